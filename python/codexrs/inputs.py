"""Typed turn input, with the official ``openai-codex`` SDK's names.

    thread.run([TextInput("what is in this picture?"), LocalImageInput("shot.png")])

Each helper becomes one codex ``UserInput`` item; plain strings and dicts in codex's own spelling
(``{"type": "local_image", "path": ...}``) keep working, and may be mixed with these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Union

__all__ = ["AudioInput", "ImageInput", "InputItem", "LocalAudioInput", "LocalImageInput", "MentionInput", "SkillInput", "TextInput"]

ImageDetail = Literal["auto", "low", "high", "original"]


@dataclass(frozen=True, slots=True)
class TextInput:
    """Text (codex ``UserInput::Text``)."""

    text: str

    def to_codex(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text, "text_elements": []}


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image by URL (codex ``UserInput::Image``). The linked codex-core sends ``data:`` URLs;
    it replaces a remote (``https:``) URL by a note that remote images are not supported."""

    url: str
    detail: ImageDetail | None = None

    def to_codex(self) -> dict[str, Any]:
        return _detail({"type": "image", "image_url": self.url}, self.detail)


@dataclass(frozen=True, slots=True)
class LocalImageInput:
    """An image file codex reads and attaches (codex ``UserInput::LocalImage``)."""

    path: str | os.PathLike[str]
    detail: ImageDetail | None = None

    def to_codex(self) -> dict[str, Any]:
        return _detail({"type": "local_image", "path": os.fspath(self.path)}, self.detail)


@dataclass(frozen=True, slots=True)
class AudioInput:
    """Audio by URL (codex ``UserInput::Audio``)."""

    url: str

    def to_codex(self) -> dict[str, Any]:
        return {"type": "audio", "audio_url": self.url}


@dataclass(frozen=True, slots=True)
class LocalAudioInput:
    """An audio file (codex ``UserInput::LocalAudio``)."""

    path: str | os.PathLike[str]

    def to_codex(self) -> dict[str, Any]:
        return {"type": "local_audio", "path": os.fspath(self.path)}


@dataclass(frozen=True, slots=True)
class SkillInput:
    """A skill the user selected: its name and ``SKILL.md`` path (codex ``UserInput::Skill``)."""

    name: str
    path: str | os.PathLike[str]

    def to_codex(self) -> dict[str, Any]:
        return {"type": "skill", "name": self.name, "path": os.fspath(self.path)}


@dataclass(frozen=True, slots=True)
class MentionInput:
    """A mentioned resource, e.g. ``app://<connector-id>`` or a plugin (codex
    ``UserInput::Mention``)."""

    name: str
    path: str

    def to_codex(self) -> dict[str, Any]:
        return {"type": "mention", "name": self.name, "path": self.path}


def _detail(item: dict[str, Any], detail: str | None) -> dict[str, Any]:
    if detail is not None:
        item["detail"] = detail
    return item


InputItem = Union[TextInput, ImageInput, LocalImageInput, AudioInput, LocalAudioInput, SkillInput, MentionInput]
"""One typed input item."""
