"""Script steps for a model that fails: HTTP errors, failed, malformed, cut and silent streams.

Each builds (or changes) a :class:`~codexrs.testing.ScriptedResponse`, used like any other step::

    model.enqueue(stall(text("never finished", deltas=["never ", "finished"]), after=3))
    model.enqueue(cut(text("half an answer"), 2, reset=True), orphan_delta("the answer"))
"""

from __future__ import annotations

import json
from typing import Any, Literal

from .model import ScriptedResponse, _next_id, text

#: The delta-like events codex-core can receive with no output item open, by ``kind`` of
#: :func:`orphan_delta`: each reaches codex-core's ``error_or_panic`` ("... without active item").
ORPHAN_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "output_text": ("response.output_text.delta", {"output_index": 0, "content_index": 0}),
    "reasoning_summary_text": ("response.reasoning_summary_text.delta", {"output_index": 0, "summary_index": 0}),
    "reasoning_summary_part": ("response.reasoning_summary_part.added", {"output_index": 0, "summary_index": 0}),
    "reasoning_text": ("response.reasoning_text.delta", {"output_index": 0, "content_index": 0}),
}

#: Rate-limit and retry headers no parser can use: not numbers, out of range, not text, empty,
#: a path as a limit id. Sent by :func:`garbage_rate_limits`. Values are Latin-1 (HTTP's
#: header encoding), so ``"\xff"`` is the byte 0xff.
GARBAGE_RATE_LIMIT_HEADERS: dict[str, str] = {
    "retry-after": "soon, maybe",
    "retry-after-ms": "-1e999",
    "x-ratelimit-reset-requests": "yesterday",
    "x-codex-primary-used-percent": "NaN",
    "x-codex-primary-window-minutes": "99999999999999999999999",
    "x-codex-primary-reset-at": "tomorrow",
    "x-codex-secondary-used-percent": "1e999",
    "x-codex-secondary-window-minutes": "-",
    "x-codex-secondary-reset-at": "1.5",
    "x-codex-credits-has-credits": "perhaps",
    "x-codex-credits-unlimited": "",
    "x-codex-credits-balance": "\xff\xfe",
    "x-codex-active-limit": "../../../etc/passwd",
    "x-codex-rate-limit-reached-type": "\xe9",
    "x-codex-limit-name": " ",
}


def http_error(status: int = 500, message: str = "scripted server error") -> ScriptedResponse:
    """A plain HTTP error answer (no stream)."""
    body = json.dumps({"error": {"message": message, "type": "server_error", "code": None}}).encode()
    return ScriptedResponse(status=status, raw_body=body, headers={"content-type": "application/json"})


def usage_limit(resets_at: int | None = None, *, plan_type: str = "plus") -> ScriptedResponse:
    """An HTTP 429 whose body says ``usage_limit_reached`` (as ChatGPT-backed accounts get),
    with ``resets_at`` (Unix seconds) in the body when given. Add headers with
    :meth:`ScriptedResponse.with_rate_limits` to send the used-up window too."""
    error: dict[str, Any] = {"type": "usage_limit_reached", "message": "scripted usage limit", "plan_type": plan_type}
    if resets_at is not None:
        error["resets_at"] = resets_at
    return ScriptedResponse(status=429, raw_body=json.dumps({"error": error}).encode(), headers={"content-type": "application/json"})


def failed(code: str = "server_error", message: str = "scripted failure") -> ScriptedResponse:
    """A stream that ends in ``response.failed`` with ``error: {code, message}``.

    With ``code="rate_limit_exceeded"``, codex-core reads a retry delay from a message saying
    "try again in <N>s" (or ``ms``, ``seconds``).
    """
    response_id = _next_id("resp")
    return ScriptedResponse(
        events=[
            ("response.created", {"response": {"id": response_id}}),
            ("response.failed", {"response": {"id": response_id, "error": {"code": code, "message": message}}}),
        ]
    )


def garbage() -> ScriptedResponse:
    """A stream whose events are not JSON."""
    return ScriptedResponse(raw_body=b"event: response.created\ndata: {this is not json\n\n" * 3)


def cut(response: ScriptedResponse, after: int, *, reset: bool = False) -> ScriptedResponse:
    """``response`` with the connection closed after ``after`` events (no completion).

    Args:
        response: The stream to cut (changed in place and returned).
        after: How many of its events are sent.
        reset: Abort with a TCP reset (the client reads an error) instead of closing the
            connection (the client reads an early end of body).
    """
    response.cut_after = after
    response.cut_reset = reset
    return response


def stall(response: ScriptedResponse, after: int) -> ScriptedResponse:
    """``response`` going silent: its headers and first ``after`` events are sent, then
    nothing, with the connection held open until the client hangs up (codex does when its
    stream idle timeout, ``model_providers.<id>.stream_idle_timeout_ms``, fires) or the server
    stops (at most :data:`~codexrs.testing.model.STALL_LIMIT_S`).

    Args:
        response: The stream (changed in place and returned).
        after: How many of its events are sent before the silence.
    """
    response.stall_after = after
    return response


def orphan_delta(
    message: str = "",
    *,
    delta: str = "a delta for no item",
    kind: Literal["output_text", "reasoning_summary_text", "reasoning_summary_part", "reasoning_text"] = "output_text",
) -> ScriptedResponse:
    """A stream that sends a delta for an output item that was never added (``item_id``
    names no ``response.output_item.added``; no item is open), then answers ``message`` as
    :func:`~codexrs.testing.text` does (nothing more when it is empty), then completes.

    A provider bug, a proxy that reorders events or a truncated replay sends this. codex-core
    hands it to ``error_or_panic`` ("OutputTextDelta without active item", and likewise for
    the reasoning kinds): a build with Rust debug assertions panics there, a release build
    logs it at ERROR and drops the delta.

    Args:
        message: The assistant message that follows the stray event.
        delta: The stray event's text (unused for ``reasoning_summary_part``).
        kind: Which stray event (:data:`ORPHAN_EVENTS`): an output-text delta, a reasoning
            summary delta, a reasoning summary part, or a raw reasoning delta.
    """
    name, fields = ORPHAN_EVENTS[kind]
    stray: dict[str, Any] = {"item_id": _next_id("never_added"), **fields}
    if kind != "reasoning_summary_part":
        stray["delta"] = delta
    answer = text(message).events
    if not message:
        answer = [answer[0], answer[-1]]  # response.created, response.completed
    return ScriptedResponse(events=[answer[0], (name, stray), *answer[1:]])


def not_json(
    response: ScriptedResponse, *, before: int = 1, data: str | bytes = '{"type": "response.output_text.delta", "delta": "tr'
) -> ScriptedResponse:
    """``response`` with one SSE event whose ``data:`` is not JSON, sent before event ``before``.

    Args:
        response: The stream (changed in place and returned).
        before: Index of the event the bad one precedes (past the last: after it).
        data: The ``data:`` line's content: by default truncated JSON; ``bytes`` are sent as
            they are (e.g. not UTF-8). It must not contain a newline.
    """
    raw = data if isinstance(data, bytes) else data.encode()
    response.inserts.append((before, b"event: response.output_text.delta\ndata: " + raw + b"\n\n"))
    return response


def garbage_rate_limits(response: ScriptedResponse) -> ScriptedResponse:
    """``response`` with :data:`GARBAGE_RATE_LIMIT_HEADERS` (changed in place and returned)."""
    response.headers.update(GARBAGE_RATE_LIMIT_HEADERS)
    return response
