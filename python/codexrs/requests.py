"""The requests codex-core sends that wait for an answer, and how to answer them.

Six kinds, each a typed event (codex ``EventMsg`` variant) and a ``kind`` name:

=========================================  ================  ====================================
event                                      kind              the answer a handler returns
=========================================  ================  ====================================
:class:`~codexrs.events.ExecApprovalRequest`        ``exec``          a decision (:mod:`codexrs.approvals`)
:class:`~codexrs.events.ApplyPatchApprovalRequest`  ``patch``         a decision (:mod:`codexrs.approvals`)
:class:`~codexrs.events.RequestPermissions`         ``permissions``   ``True`` / ``"approved"`` (grant what
                                                                      was asked, for the turn),
                                                                      ``"approved_for_session"``,
                                                                      ``False`` / ``"denied"``, or a codex
                                                                      ``RequestPermissionsResponse`` dict
:class:`~codexrs.events.RequestUserInput`           ``user_input``    ``{question id: answer or [answers]}``
:class:`~codexrs.events.ElicitationRequest`         ``elicitation``   ``True`` / ``"accept"``,
                                                                      ``"accept_for_session"``,
                                                                      ``False`` / ``"decline"``,
                                                                      ``"cancel"``, or ``{"decision": ...,
                                                                      "content": ..., "meta": ...}``
:class:`~codexrs.events.DynamicToolCallRequest`     ``dynamic_tool``  the tool's output: a ``str`` (or any
                                                                      JSON value, sent as its JSON text),
                                                                      or a codex ``DynamicToolResponse``
                                                                      dict (``contentItems``, ``success``)
=========================================  ================  ====================================

The rule: every request is answered or denied, never left waiting.

* ``thread_start(on_approval=...)`` answers ``exec`` and ``patch``; ``on_request=...`` answers
  every kind (``exec`` and ``patch`` too, unless ``on_approval`` is given). A kind with no
  handler is denied at once, in Rust, and a ``codexrs_request_denied`` event
  (:class:`~codexrs.events.RequestDenied`) follows the request.
* Handlers run off the reader: a sync one on a thread of its own, an async one as a task
  (cancelled when its thread or engine closes). A handler that blocks (waiting for a person)
  never holds the turn; handlers may run at the same time and must be thread-safe.
* A handler may return :data:`DEFER`: the request stays pending, to be answered later, from any
  code, with ``thread.respond(request, answer)`` (a service shows it to a person).
* A handler that raises, or returns an answer of the wrong shape, denies the request and the
  turn goes on; once the turn has ended, the error is raised to whoever reads it (the stream's
  last step, ``run()``, ``result()``) and logged on the ``codexrs`` logger.
* A request not answered within the thread's ``request_timeout`` (seconds; default
  :data:`DEFAULT_REQUEST_TIMEOUT`) is denied by codexrs with a ``codexrs_request_timed_out``
  event (:class:`~codexrs.events.RequestTimedOut`). A later answer is refused harmlessly:
  ``respond`` returns ``False``.

Denials: approvals are denied (``ReviewDecision::Denied``), no permission is granted, a
question gets an empty answer, an elicitation is declined, a tool call fails with the reason.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Final, Union

import msgspec

from ._native import ConfigError
from .approvals import decision_json
from .events import (
    ApplyPatchApprovalRequest,
    DynamicToolCallRequest,
    ElicitationRequest,
    ExecApprovalRequest,
    RequestKind,
    RequestPermissions,
    RequestUserInput,
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFER",
    "Answer",
    "Request",
    "RequestHandler",
    "RequestKind",
    "answer_json",
    "key_of",
    "kind_of",
]

Request = Union[
    ExecApprovalRequest,
    ApplyPatchApprovalRequest,
    RequestPermissions,
    RequestUserInput,
    ElicitationRequest,
    DynamicToolCallRequest,
]

#: Seconds a request may wait for its answer before codexrs denies it: long enough for a person
#: to read and click, short enough that a forgotten request does not pin a turn (and its
#: conversation) for good. ``request_timeout=None`` waits forever.
DEFAULT_REQUEST_TIMEOUT: Final = 300.0


class _Defer:
    def __repr__(self) -> str:
        return "codexrs.requests.DEFER"


#: Returned by a handler: leave the request pending and answer it later with
#: ``thread.respond(request, answer)`` (within the thread's ``request_timeout``).
DEFER: Final = _Defer()

Answer = Union[bool, int, float, str, None, list[Any], dict[str, Any], _Defer]
"""What a handler may return (the table above gives each kind's shapes): a decision name or bool,
a JSON value (a ``str``, number, ``None``, list or dict: codex's answer type for the kind, or a
dynamic tool's output), or :data:`DEFER`. ``Any`` inside lists and dicts: they are JSON, checked
by :func:`answer_json`."""

RequestHandler = Callable[[Request], Union[Answer, Awaitable[Answer]]]
"""``handler(request) -> answer | DEFER`` (or an awaitable of it, on an ``AsyncThread``)."""

_KINDS: dict[type, RequestKind] = {
    ExecApprovalRequest: "exec",
    ApplyPatchApprovalRequest: "patch",
    RequestPermissions: "permissions",
    RequestUserInput: "user_input",
    ElicitationRequest: "elicitation",
    DynamicToolCallRequest: "dynamic_tool",
}


def kind_of(event: object) -> RequestKind | None:
    """The request kind of ``event``, or ``None`` if it is not a request."""
    return _KINDS.get(type(event))


def key_of(request: Request) -> str:
    """The id codex expects in the answer (codexrs's Rust side keys pending requests by it)."""
    if isinstance(request, ExecApprovalRequest):
        return request.effective_approval_id
    if isinstance(request, (ApplyPatchApprovalRequest, RequestPermissions)):
        return request.call_id
    if isinstance(request, RequestUserInput):
        return request.turn_id  # codex keys a pending question by its turn
    if isinstance(request, DynamicToolCallRequest):
        return request.callId
    return f"{request.server_name}\x1f{request.id}"


def _wrong(kind: str, answer: object, expected: str) -> Exception:
    if isinstance(answer, (str, bool, dict, list)):
        return ConfigError(f"{answer!r} is not a {kind} answer; expected {expected}")
    return TypeError(f"a {kind} answer cannot be a {type(answer).__name__} ({answer!r}); expected {expected}")


def answer_json(request: Request, answer: object) -> str:
    """Serializes a handler's ``answer`` to ``request`` as codex's answer type for its kind.

    Raises:
        TypeError: the answer has a type the kind never accepts.
        ConfigError: the answer has an accepted type but names nothing (an unknown decision).
    """
    if isinstance(request, (ExecApprovalRequest, ApplyPatchApprovalRequest)):
        return decision_json(answer)
    if isinstance(request, RequestPermissions):
        grant = msgspec.to_builtins(request.permissions)
        if answer is True or answer in ("approved", "approve"):
            return json.dumps({"permissions": grant, "scope": "turn"})
        if answer == "approved_for_session":
            return json.dumps({"permissions": grant, "scope": "session"})
        if answer is False or answer in ("denied", "deny"):
            return json.dumps({"permissions": {}, "scope": "turn"})
        if isinstance(answer, dict) and "permissions" in answer:
            return json.dumps(answer)
        raise _wrong("permissions", answer, "True/False, 'approved', 'approved_for_session', 'denied' or a dict")
    if isinstance(request, RequestUserInput):
        if not isinstance(answer, dict):
            raise _wrong("user_input", answer, "a dict of question id -> answer (str or list of str)")
        answers: dict[str, Any] = {}
        for question, value in answer.items():
            values = [value] if isinstance(value, str) else value
            if not isinstance(question, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _wrong("user_input", answer, "a dict of question id -> answer (str or list of str)")
            answers[question] = {"answers": values}
        return json.dumps({"answers": answers})
    if isinstance(request, ElicitationRequest):
        named = {
            "accept": {"decision": "accept"},
            "accept_for_session": {"decision": "accept", "meta": {"persist": "session"}},
            "decline": {"decision": "decline"},
            "cancel": {"decision": "cancel"},
        }
        if answer is True:
            return json.dumps(named["accept"])
        if answer is False:
            return json.dumps(named["decline"])
        if isinstance(answer, str) and answer in named:
            return json.dumps(named[answer])
        if isinstance(answer, dict) and answer.get("decision") in ("accept", "decline", "cancel"):
            return json.dumps(answer)
        raise _wrong("elicitation", answer, "True/False, 'accept', 'accept_for_session', 'decline', 'cancel' or a dict")
    # DynamicToolCallRequest
    if isinstance(answer, dict) and "contentItems" in answer:
        return json.dumps(answer)
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return json.dumps({"contentItems": [{"type": "inputText", "text": text}], "success": True})


