"""Thread options as typed names: codex's approval policies, sandbox modes, reasoning settings.

codex's own names are accepted, and the official ``openai-codex`` SDK's sandbox spelling
(``"full-access"``, or its ``Sandbox`` enum, whose values are these strings) so users can switch.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Literal, Mapping, NotRequired, Required, Sequence, TypedDict, Union, get_args

from .._native import ConfigError
from ..approvals import ApprovalHandler
from ..requests import DEFAULT_REQUEST_TIMEOUT, RequestHandler
from ..tools import Tool

ApprovalPolicy = Literal["untrusted", "on-request", "on-failure", "never"]
"""codex ``AskForApproval``: when codex asks before running a command or applying a patch."""

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access", "full-access"]
"""codex ``SandboxMode``; ``"full-access"`` is openai-codex's name of ``"danger-full-access"``."""

_SANDBOX_ALIASES = {"full-access": "danger-full-access"}


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""codex ``ReasoningEffort`` (a model may define more; any such name is passed through)."""

ReasoningSummary = Literal["auto", "concise", "detailed", "none"]
"""codex ``ReasoningSummary``: how much of its reasoning the model summarizes."""


class ThreadOptions(TypedDict, total=False):
    """The options of every way to load a thread (``thread_start``, ``thread_resume``,
    ``thread_fork``, and a manager's ``create`` / ``resume``), passed as keywords; all optional.

    Attributes:
        cwd: Working directory (defaults to the engine's).
        model: Model slug, e.g. ``"gpt-5.5"``.
        approval_policy: When codex asks before acting (:data:`ApprovalPolicy`, codex
            ``AskForApproval``).
        sandbox: :data:`SandboxMode` (codex ``SandboxMode``; ``"full-access"`` is openai-codex's
            name of ``"danger-full-access"``).
        config: Per-thread codex config overrides, dotted keys as with ``codex -c``; values
            JSON-like.
        on_approval: Called with each approval request (exec, patch); returns a decision
            (:mod:`codexrs.approvals`).
        on_request: Called with each request codex-core waits on (see :mod:`codexrs.requests`);
            returns the answer, or ``DEFER`` to answer later with ``respond``. Answers approvals
            too unless ``on_approval`` is given. A kind with no handler is denied at once.
        request_timeout: Seconds a request may wait for its answer before codexrs denies it
            (default 300; ``None``: wait forever).
        max_queued_events: Events codexrs holds for the thread before it stops pulling from
            codex-core (default 4096): a memory bound, never a drop.
        raw_response_items: Also deliver ``raw_response_item`` events (whole prompts; default
            ``False``).
        tools: Python functions the model may call, made with :func:`codexrs.tool` (codex
            dynamic tools). A resumed or forked thread gets the specs back from its rollout:
            pass the same tools to answer the calls.
    """

    cwd: str | os.PathLike[str] | None
    model: str | None
    approval_policy: ApprovalPolicy | None
    sandbox: SandboxMode | None
    config: Mapping[str, object] | None
    on_approval: ApprovalHandler | None
    on_request: RequestHandler | None
    request_timeout: float | None
    max_queued_events: int
    raw_response_items: bool
    tools: Sequence[Tool]


_THREAD_OPTIONS = frozenset(ThreadOptions.__annotations__)


class TurnSettings(TypedDict, total=False):
    """Thread settings a turn may change (codex ``Op::UserInput``'s overrides; ``update``
    takes them between turns), passed as keywords; all optional. As in codex they last: later
    turns keep them until changed.

    Attributes:
        model: Model slug.
        effort: :data:`ReasoningEffort` (a model may define more names; any is passed through).
        summary: :data:`ReasoningSummary`.
        cwd: Working directory (absolute).
        sandbox: :data:`SandboxMode`.
        approval_policy: :data:`ApprovalPolicy`.
    """

    model: str | None
    effort: ReasoningEffort | str | None
    summary: ReasoningSummary | None
    cwd: str | os.PathLike[str] | None
    sandbox: SandboxMode | None
    approval_policy: ApprovalPolicy | None


def config_json(config: Mapping[str, object] | None, env: Mapping[str, str] | None = None) -> str:
    """codex config overrides (and ``env``, as ``shell_environment_policy.set``) as JSON."""
    merged: dict[str, object] = dict(config or {})
    for key, value in (env or {}).items():
        merged[f"shell_environment_policy.set.{key}"] = value
    try:
        return json.dumps(merged)
    except TypeError as exc:
        raise ConfigError(f"config values must be JSON-like (str, int, float, bool, list, dict): {exc}") from exc


@dataclass(frozen=True)
class ThreadArgs:
    """The options ``thread_start``, ``thread_resume`` and ``thread_fork`` share (one field per
    key of :class:`ThreadOptions`, with its default), checked and turned into the native call's
    arguments."""

    cwd: str | os.PathLike[str] | None = None
    model: str | None = None
    approval_policy: ApprovalPolicy | None = None
    sandbox: SandboxMode | None = None
    config: Mapping[str, object] | None = None
    on_approval: ApprovalHandler | None = None
    on_request: RequestHandler | None = None
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT
    max_queued_events: int = 4096
    raw_response_items: bool = False
    tools: Sequence[Tool] = ()

    @classmethod
    def of(cls, method: str, options: ThreadOptions) -> ThreadArgs:
        """``method``'s ``**options``, with the defaults of those not given.

        Raises:
            TypeError: A name :class:`ThreadOptions` does not have (``**options`` takes any
                keyword at run time), named as Python names an unexpected keyword argument.
        """
        for name in options:
            if name not in _THREAD_OPTIONS:
                raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")
        return cls(**options)

    def handled(self) -> list[str]:
        """The request kinds Python answers; codexrs denies the others at once."""
        kinds: list[str] = []
        if self.on_approval is not None or self.on_request is not None:
            kinds += ["exec", "patch"]
        if self.on_request is not None:
            kinds += ["permissions", "user_input", "elicitation", "dynamic_tool"]
        elif self.tools:
            kinds.append("dynamic_tool")
        return kinds

    def checked_tools(self, *, is_async: bool) -> list[Tool]:
        """The tools, checked: :class:`Tool` objects with distinct names; async ones only on
        an ``AsyncCodex``."""
        tools = list(self.tools)
        for t in tools:
            if not isinstance(t, Tool):
                raise TypeError(f"tools must be made with @codexrs.tool, not {type(t).__name__}")
            if t.is_async and not is_async:
                raise ConfigError(f"tool {t.name} is async: use it on an AsyncCodex")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"tool names must be distinct: {names}")
        return tools

    def start_native(self, *, is_async: bool) -> dict[str, Any]:
        """:meth:`native` for ``thread_start``, which also sends the tools' specs to codex."""
        tools = self.checked_tools(is_async=is_async)
        return {**self.native(), "tools_json": json.dumps([t.spec() for t in tools]) if tools else None}

    def native(self) -> dict[str, Any]:
        """Keyword arguments of the native ``thread_start`` / ``thread_resume`` / ``thread_fork``.

        Raises:
            TypeError: A model, policy or timeout of the wrong type.
            ConfigError: A bad policy name or config value.
        """
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError(f"model must be a str, not {type(self.model).__name__}")
        timeout = timeout_seconds("request_timeout", self.request_timeout, positive=True)
        return {
            "cwd": None if self.cwd is None else str(self.cwd),
            "model": self.model,
            "approval_policy": approval_policy_name(self.approval_policy),
            "sandbox": sandbox_name(self.sandbox),
            "config_json": config_json(self.config),
            "max_queued_events": self.max_queued_events,
            "raw_response_items": self.raw_response_items,
            "handled": self.handled(),
            "request_timeout": timeout,
        }


def _checked(kind: str, value: object, accepted: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str (one of {', '.join(map(repr, accepted))}), not {type(value).__name__}")
    name = str(value.value) if hasattr(value, "value") and isinstance(value.value, str) else str(value)
    if name not in accepted:
        raise ConfigError(f"unknown {kind} {name!r}: expected one of {', '.join(map(repr, accepted))}")
    return name


def approval_policy_name(value: object) -> str | None:
    """codex's name of an approval policy.

    Raises:
        TypeError: ``value`` is not a string.
        ConfigError: ``value`` is not one of :data:`ApprovalPolicy`.
    """
    return _checked("approval policy", value, get_args(ApprovalPolicy))


def sandbox_name(value: object) -> str | None:
    """codex's name of a sandbox mode (``"full-access"`` becomes ``"danger-full-access"``).

    Raises:
        TypeError: ``value`` is not a string.
        ConfigError: ``value`` is not one of :data:`SandboxMode`.
    """
    name = _checked("sandbox", value, get_args(SandboxMode))
    return None if name is None else _SANDBOX_ALIASES.get(name, name)


def settings_json(
    *,
    model: object = None,
    effort: object = None,
    summary: object = None,
    cwd: object = None,
    sandbox: object = None,
    approval_policy: object = None,
) -> str | None:
    """Per-turn / between-turn thread settings (codex ``ThreadSettingsOverrides``) as the JSON
    the native layer takes, or ``None`` when nothing is set.

    Raises:
        TypeError: A value of the wrong type.
        ConfigError: An unknown policy, sandbox or summary name, or a relative ``cwd``.
    """
    out: dict[str, str] = {}
    for key, value in (("model", model), ("effort", effort)):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise TypeError(f"{key} must be a non-empty str, not {value!r}")
            out[key] = value
    if summary is not None:
        out["summary"] = _checked("reasoning summary", summary, get_args(ReasoningSummary)) or ""
    if cwd is not None:
        if not isinstance(cwd, (str, os.PathLike)):
            raise TypeError(f"cwd must be a str or path, not {type(cwd).__name__}")
        path = os.fspath(cwd)
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ConfigError(f"cwd must be an absolute path, not {path!r}")
        out["cwd"] = path
    if (name := sandbox_name(sandbox)) is not None:
        out["sandbox"] = name
    if (name := approval_policy_name(approval_policy)) is not None:
        out["approval_policy"] = name
    return json.dumps(out) if out else None


class BaseBranchReview(TypedDict):
    """Review the changes against a base branch: ``{"base_branch": "main"}``."""

    base_branch: str


class CommitReview(TypedDict):
    """Review one commit: ``{"commit": sha}``, optionally with a ``"title"``."""

    commit: str
    title: NotRequired[str]


class CustomReview(TypedDict):
    """A review by your own instructions: ``{"instructions": "..."}``."""

    instructions: str


class CodexReviewTarget(TypedDict, total=False):
    """codex's own ``ReviewTarget``, passed as is: ``{"type": "baseBranch", "branch": ...}``,
    ``{"type": "commit", "sha": ..., "title": ...}``, ``{"type": "custom", "instructions": ...}``
    or ``{"type": "uncommittedChanges"}``."""

    type: Required[str]
    branch: str
    sha: str
    title: str | None
    instructions: str


ReviewTarget = Union[
    Literal["uncommitted", "uncommitted_changes"], BaseBranchReview, CommitReview, CustomReview, CodexReviewTarget
]
"""What :meth:`Thread.review` reviews: ``"uncommitted"`` (the working tree's changes), a base
branch, a commit, custom instructions, or a codex ``ReviewTarget`` dict."""

JsonSchema = dict[str, Any]
"""A JSON Schema, as a dict (``output_schema``): ``TurnResult.output`` is then the parsed JSON."""


def review_target(target: object) -> dict[str, object]:
    """codex's ``ReviewTarget`` for :meth:`Thread.review`'s ``target``.

    ``"uncommitted"`` (the working tree's changes), ``{"base_branch": "main"}``,
    ``{"commit": sha, "title": ...}``, ``{"instructions": "..."}`` (a custom review), or a
    codex ``ReviewTarget`` dict (with its ``"type"``).

    Raises:
        ConfigError: An unknown target.
    """
    if target in ("uncommitted", "uncommitted_changes"):
        return {"type": "uncommittedChanges"}
    if isinstance(target, dict):
        if "type" in target:
            return dict(target)
        if set(target) == {"base_branch"}:
            return {"type": "baseBranch", "branch": target["base_branch"]}
        if "commit" in target and set(target) <= {"commit", "title"}:
            return {"type": "commit", "sha": target["commit"], "title": target.get("title")}
        if set(target) == {"instructions"}:
            return {"type": "custom", "instructions": target["instructions"]}
    raise ConfigError(
        f"unknown review target {target!r}: expected 'uncommitted', {{'base_branch': ...}}, "
        "{'commit': sha}, {'instructions': ...} or a codex ReviewTarget dict"
    )


def _number(name: str, value: object, accepted: str) -> float:
    """``value`` as a float: any real number but a bool (an int too large for a float is ±inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {accepted}, not {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        return -math.inf if value < 0 else math.inf


def positive_int(name: str, value: object) -> int:
    """A count parameter checked: an ``int`` (not a ``bool``) of at least 1.

    Raises:
        TypeError: ``value`` is not an int.
        ConfigError: ``value`` is less than 1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def timeout_seconds(name: str, value: object, *, positive: bool = False) -> float | None:
    """A timeout parameter checked: ``None`` or ``inf`` is ``None`` (no limit); otherwise a
    finite number of seconds, ``>= 0`` (``> 0`` when ``positive``), as a float.

    Args:
        name: The parameter's name, for the error messages.
        value: What the caller passed.
        positive: Refuse ``0`` too (a timeout that must let something happen first).

    Raises:
        TypeError: ``value`` is not ``None`` or a real number (a ``bool`` or a ``str`` is not).
        ConfigError: ``value`` is NaN or negative (or ``0`` when ``positive``).
    """
    if value is None:
        return None
    kind = "a positive" if positive else "a non-negative"
    seconds = _number(name, value, f"{kind} number of seconds or None")
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0):
        raise ConfigError(f"{name} must be {kind} number of seconds or None (no limit), not {value!r}")
    return None if seconds == math.inf else seconds


def positive_seconds(name: str, value: object) -> float:
    """A duration that is not a timeout (a poll period, a back-off): a finite number of seconds
    ``> 0``, as a float.

    Raises:
        TypeError: ``value`` is not a real number (a ``bool`` or a ``str`` is not).
        ConfigError: ``value`` is NaN, infinite, zero or negative.
    """
    seconds = _number(name, value, "a positive number of seconds")
    if not (0 < seconds < math.inf):
        raise ConfigError(f"{name} must be a positive, finite number of seconds, not {value!r}")
    return seconds
