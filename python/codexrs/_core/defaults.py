"""Where codexrs's engine differs from the ``codex`` CLI by default, each for many threads in
one process, and each a documented choice (README, "Many threads in one process").

- ``features.shell_snapshot`` is off unless the config (the overrides, or ``config.toml``'s
  ``[features]``) sets it. codex-core takes a shell snapshot per thread: a login shell
  (``bash -lc``, sourcing the user's profile) at every thread start. A command still runs as a
  login shell without it (codex's ``allow_login_shell`` default), so it sees the same
  environment; the profile is sourced per command instead of per thread. With hundreds of
  threads the per-thread shells dominate (and a heavy profile, e.g. pyenv's init, can leave
  children spinning after the snapshot shell exits).
- The process's soft limit on open files is raised to its hard limit (as servers do): codex-core
  keeps each thread's rollout file open, so 1,000 threads that ran a turn hold ~1,100
  descriptors, past the common soft limit of 1,024. (codexrs's own wake-ups use one descriptor
  per engine, not per thread.)
"""

from __future__ import annotations

import logging
import resource
import tomllib
from pathlib import Path
from typing import Any, Mapping

__all__ = ["engine_config", "raise_open_file_limit"]

_log = logging.getLogger("codexrs")
#: Never above this many, even with an unlimited hard limit.
_MAX_OPEN_FILES = 1 << 20


def _sets_shell_snapshot(config: Mapping[str, Any]) -> bool:
    if "features.shell_snapshot" in config:
        return True
    features = config.get("features")
    return isinstance(features, Mapping) and "shell_snapshot" in features


def engine_config(codex_home: Path, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` with codexrs's defaults added where neither it nor ``config.toml`` decides."""
    merged = dict(config or {})
    if not _sets_shell_snapshot(merged):
        try:
            on_disk = tomllib.loads((codex_home / "config.toml").read_text())
        except (OSError, tomllib.TOMLDecodeError):
            on_disk = {}  # a broken config.toml is codex-core's to report
        if not _sets_shell_snapshot(on_disk):
            merged["features.shell_snapshot"] = False
    return merged


def raise_open_file_limit() -> None:
    """Raises the soft open-file limit to the hard limit (capped at 2**20), once per process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, _MAX_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            _log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
