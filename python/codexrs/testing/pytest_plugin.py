"""pytest fixtures for code that embeds codexrs (registered as a ``pytest11`` entry point).

Fixtures:
    scripted_model: a started :class:`~codexrs.testing.ScriptedModel`, stopped afterwards.
    codex_home: a fresh temporary codex home.
    codex: a :class:`codexrs.Codex` on ``codex_home`` talking to ``scripted_model``, with a
        temporary git repository as its working directory; closed afterwards.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from .model import ScriptedModel

if TYPE_CHECKING:
    import codexrs


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as model:
        yield model


@pytest.fixture
def codex_home(tmp_path: Path) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir()
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh git repository to run turns in."""
    repo = tmp_path / "workspace"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


@pytest.fixture
def codex(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> Iterator[codexrs.Codex]:
    import codexrs

    with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as engine:
        yield engine
