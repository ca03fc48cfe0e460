"""Approval decisions: what an ``on_approval`` handler may return.

A handler gets the typed request (:class:`~codexrs.events.ExecApprovalRequest` or
:class:`~codexrs.events.ApplyPatchApprovalRequest`) and returns one of:

* ``True`` / ``"approved"``: run it once (codex ``ReviewDecision::Approved``);
* ``"approved_for_session"``: approve this and identical requests for the session;
* ``False`` / ``"denied"``: refuse; the turn goes on without it (``ReviewDecision::Denied``);
* ``"abort"``: refuse and stop the turn (``ReviewDecision::Abort``);
* a ``dict``: any serialized codex ``ReviewDecision``, passed through as is.

Anything else is refused: the request is denied (fail closed) and the handler's caller gets
``TypeError`` for a value of another type, ``ConfigError`` for an unknown decision name.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Literal, Union

from ._native import ConfigError
from .events import ApplyPatchApprovalRequest, ExecApprovalRequest

ApprovalRequest = Union[ExecApprovalRequest, ApplyPatchApprovalRequest]
Decision = Union[bool, Literal["approved", "approved_for_session", "denied", "abort"], dict[str, Any]]
ApprovalHandler = Callable[[ApprovalRequest], Union[Decision, Awaitable[Decision]]]

DENIED_BY_HANDLER = "denied by the codexrs approval handler"

_NAMED: dict[str, Any] = {
    "approved": "approved",
    "approve": "approved",
    "approved_for_session": "approved_for_session",
    "denied": {"denied": {"rejection": DENIED_BY_HANDLER}},
    "deny": {"denied": {"rejection": DENIED_BY_HANDLER}},
    "abort": "abort",
}


def deny_json(reason: str) -> str:
    """A serialized ``ReviewDecision::Denied`` with ``reason``."""
    return json.dumps({"denied": {"rejection": reason}})


def decision_json(decision: object) -> str:
    """Serializes a handler's decision as a codex ``ReviewDecision``.

    Raises:
        TypeError: ``decision`` is not a bool, str or dict.
        ConfigError: ``decision`` is a str that names no decision.
    """
    if decision is True:
        return json.dumps("approved")
    if decision is False:
        return json.dumps(_NAMED["denied"])
    if isinstance(decision, str) and decision in _NAMED:
        return json.dumps(_NAMED[decision])
    if isinstance(decision, dict):
        return json.dumps(decision)
    if not isinstance(decision, str):
        raise TypeError(
            f"on_approval returned a {type(decision).__name__} ({decision!r}); expected True/False, "
            "'approved', 'approved_for_session', 'denied', 'abort' or a ReviewDecision dict"
        )
    raise ConfigError(
        f"on_approval returned {decision!r}; expected True/False, 'approved', "
        "'approved_for_session', 'denied', 'abort' or a ReviewDecision dict"
    )
