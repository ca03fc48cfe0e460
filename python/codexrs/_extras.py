"""Optional dependencies (the package's extras), imported when a feature first needs them."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["require"]


def require(module: str, *, feature: str, library: str, extra: str) -> Any:
    """``module``, imported.

    Raises:
        ImportError: It is not installed; the message names ``feature``, the ``library`` it
            needs and the extra that installs it (``pip install 'codexrs[extra]'``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{feature} needs {library}: pip install 'codexrs[{extra}]'") from exc
