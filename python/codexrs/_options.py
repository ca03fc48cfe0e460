"""Thread options as typed names: codex's approval policies and sandbox modes.

codex's own names are accepted, and the official ``openai-codex`` SDK's sandbox spelling
(``"full-access"``, or its ``Sandbox`` enum, whose values are these strings) so users can switch.
"""

from __future__ import annotations

from typing import Literal, get_args

from ._native import ConfigError

ApprovalPolicy = Literal["untrusted", "on-request", "on-failure", "never"]
"""codex ``AskForApproval``: when codex asks before running a command or applying a patch."""

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access", "full-access"]
"""codex ``SandboxMode``; ``"full-access"`` is openai-codex's name of ``"danger-full-access"``."""

_SANDBOX_ALIASES = {"full-access": "danger-full-access"}


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
