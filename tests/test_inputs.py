"""Typed turn input (``codexrs.inputs``, the official SDK's names): each reaches the model as
codex sends it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import codexrs
from codexrs.testing import ScriptedModel, text

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _content(model: ScriptedModel) -> list[dict[str, object]]:
    body = model.response_requests()[-1].body
    user = [i for i in body["input"] if isinstance(i, dict) and i.get("role") == "user"]
    return [part for message in user for part in message["content"]]


def test_text_and_images_reach_the_model(codex: codexrs.Codex, scripted_model: ScriptedModel, workspace: Path) -> None:
    (workspace / "dot.png").write_bytes(PNG)
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    scripted_model.enqueue(text("a dot"), text("a data dot"))
    thread = codex.thread_start()
    thread.run([codexrs.TextInput("what is this?"), codexrs.LocalImageInput(workspace / "dot.png"), "a plain string"])
    parts = _content(scripted_model)
    texts = [p.get("text") for p in parts if p.get("type") == "input_text"]
    assert "what is this?" in texts and "a plain string" in texts
    # codex read the file and sent it as a data URL
    assert [p.get("image_url") for p in parts if p.get("type") == "input_image"] == [data_url]
    turn = thread.turn(codexrs.ImageInput(data_url, detail="low"))
    said = [e for e in turn.stream() if isinstance(e, codexrs.events.UserMessage)]
    assert [(m.images, m.image_details) for m in said] == [([data_url], ["low"])]  # as codex took it
    images = [p.get("image_url") for p in _content(scripted_model) if p.get("type") == "input_image"]
    assert images and images[-1] == data_url


def test_a_skill_input_brings_the_skill_to_the_model(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    skill = codex_home / "skills" / "greeter" / "SKILL.md"  # where codex finds user skills
    skill.parent.mkdir(parents=True)
    skill.write_text("---\nname: greeter\ndescription: Greets people.\n---\nAlways greet with MARKER-4711.\n")
    scripted_model.enqueue(text("plain"), text("hello MARKER-4711"))
    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
        thread = codex.thread_start()
        thread.run("greet me")
        thread.run([codexrs.TextInput("greet me"), codexrs.SkillInput("greeter", skill)])
    without, with_skill = (json.dumps(r.body) for r in scripted_model.response_requests())
    assert "MARKER-4711" not in without  # only the skill's description is listed...
    assert "MARKER-4711" in with_skill  # ...its body comes with the SkillInput


def test_inputs_become_codex_user_input_items() -> None:
    assert codexrs.MentionInput("Docs", "app://docs").to_codex() == {"type": "mention", "name": "Docs", "path": "app://docs"}
    assert codexrs.LocalImageInput("a.png").to_codex() == {"type": "local_image", "path": "a.png"}
    assert codexrs.AudioInput("https://x.invalid/a.wav").to_codex() == {"type": "audio", "audio_url": "https://x.invalid/a.wav"}


def test_other_input_types_are_refused(codex: codexrs.Codex) -> None:
    thread = codex.thread_start()
    with pytest.raises(TypeError, match="turn input"):
        thread.turn([codexrs.TextInput("ok"), 42])  # type: ignore[list-item]
    with pytest.raises(codexrs.ConfigError, match="empty"):
        thread.turn([])
