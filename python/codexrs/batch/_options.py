"""A batch run's options: the keywords of :func:`codexrs.batch.run` (:class:`BatchOptions`), and
the same checked once, with their defaults (:class:`Settings`), for the drivers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, TypedDict

from .._core.options import ApprovalPolicy, SandboxMode, ThreadOptions
from ..errors import ConfigError
from ._record import Record

__all__ = ["BatchOptions", "Settings"]


class BatchOptions(TypedDict, total=False):
    """The keywords of :func:`codexrs.batch.run` and :func:`codexrs.batch.arun`; every one may
    be left out (its default is given).

    Attributes:
        concurrency: Tasks (and turns) at once, per worker with ``ray`` (default 8).
        codex_home: The codex home (default ``$CODEX_HOME`` or ``~/.codex``); with ``ray``, the
            one whose ``config.toml``, ``auth.json`` and ``AGENTS.md`` seed each worker's own.
        config: codex config overrides for every task, dotted keys as with ``codex -c``.
        model: The model of every task without its own.
        approval_policy: Of every task without its own (default ``"never"``).
        sandbox: Of every task without its own (default ``"workspace-write"``).
        keep_workspaces: Keep each task's workspace copy (default ``False``).
        workspaces: Where the copies go (default: a new temporary directory); relative to the
            current directory.
        on_result: Called with each :class:`~codexrs.batch.Record` once it is written.
        ray: ``"local"`` (a Ray cluster started on this machine for the run) or a Ray cluster's
            address (``"auto"``, ``"ray://head:10001"``); ``None`` (default): this process.
        workers: With ``ray``: Ray actors (default: one per alive node).
        ray_homes: With ``ray``: where, on each node, the workers' codex homes go (default:
            ``codexrs-ray`` in the node's temporary directory).
    """

    concurrency: int
    codex_home: str | os.PathLike[str] | None
    config: Mapping[str, object] | None
    model: str | None
    approval_policy: ApprovalPolicy | None
    sandbox: SandboxMode | None
    keep_workspaces: bool
    workspaces: str | os.PathLike[str] | None
    on_result: Callable[[Record], None] | None
    ray: str | None
    workers: int | None
    ray_homes: str | None


def _count(name: str, value: object, *, optional: bool = False) -> None:
    """The one rule for a count: a wrong type is ``TypeError``, a number below 1 ``ConfigError``."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int{' or None' if optional else ''}, not {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """:class:`BatchOptions` with their defaults, checked when made.

    Raises:
        TypeError: An unknown keyword, or ``concurrency`` / ``workers`` not an int.
        ConfigError: ``concurrency`` or ``workers`` below 1.
    """

    concurrency: int = 8
    codex_home: str | os.PathLike[str] | None = None
    config: Mapping[str, object] | None = None
    model: str | None = None
    approval_policy: ApprovalPolicy | None = "never"
    sandbox: SandboxMode | None = "workspace-write"
    keep_workspaces: bool = False
    workspaces: str | os.PathLike[str] | None = None
    on_result: Callable[[Record], None] | None = None
    ray: str | None = None
    workers: int | None = None
    ray_homes: str | None = None

    def __post_init__(self) -> None:
        _count("concurrency", self.concurrency)
        _count("workers", self.workers, optional=True)

    @property
    def defaults(self) -> ThreadOptions:
        """The thread options of every task without its own (those set)."""
        options: ThreadOptions = {}
        if self.model is not None:
            options["model"] = self.model
        if self.approval_policy is not None:
            options["approval_policy"] = self.approval_policy
        if self.sandbox is not None:
            options["sandbox"] = self.sandbox
        return options
