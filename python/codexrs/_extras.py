"""Optional dependencies (the package's extras), imported when a feature first needs them."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency of codexrs is not installed (or fails to import).

    The message is one line that ends with the command that installs it, e.g.
    ``codexrs report needs Plotly: pip install 'codexrs[report]'``; ``extra`` is the extra's
    name (``"report"``, ``"ray"``, ``"otel"``, ``"serve"``). The command line prints the message
    alone (no traceback) and exits 2.
    """

    def __init__(self, message: str, *, extra: str, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (str(self), self.extra, self.name))


def _rebuild(message: str, extra: str, name: str | None) -> MissingExtraError:
    return MissingExtraError(message, extra=extra, name=name)


def require(module: str, *, feature: str, library: str, extra: str) -> Any:
    """``module``, imported.

    Raises:
        MissingExtraError: It is not installed (an ``ImportError``): the message names
            ``feature``, the ``library`` it needs and the extra that installs it
            (``pip install 'codexrs[extra]'``); when the library is there but one of its own
            imports fails, the message adds that failure.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"{feature} needs {library}: pip install 'codexrs[{extra}]'"
        absent = isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
            module == exc.name or module.startswith(exc.name + ".")
        )
        if not absent:
            hint += f" (importing {module} failed: {' '.join(str(exc).split())})"
        raise MissingExtraError(hint, extra=extra, name=module) from exc
