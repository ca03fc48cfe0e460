"""Locating the codexrs helper executable codex-core re-executes (apply_patch, sandbox)."""

from __future__ import annotations

import os
from pathlib import Path

HELPER_NAME = "codexrs-helper"
HELPER_ENV = "CODEXRS_HELPER"


def helper_path() -> str | None:
    """The helper shipped in the wheel (``codexrs/_bin/codexrs-helper``).

    ``$CODEXRS_HELPER`` overrides it. Returns ``None`` when neither exists; the engine then
    refuses to start with a ``ConfigError`` naming what is missing.
    """
    override = os.environ.get(HELPER_ENV)
    if override:
        return override
    shipped = Path(__file__).parent.parent / "_bin" / HELPER_NAME
    return str(shipped) if shipped.is_file() else None
