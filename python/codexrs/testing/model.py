"""The scripted model server (OpenAI Responses API over server-sent events)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# SENT_AT and STALL_LIMIT_S are defined with the server that uses them, and are public here.
from ._http import SENT_AT as SENT_AT
from ._http import STALL_LIMIT_S as STALL_LIMIT_S
from ._http import Serving, sse

_ids = itertools.count(1)

#: The model slug the kit's config uses: one codex knows, so no model lookup is needed.
DEFAULT_MODEL = "gpt-5.5"


def _next_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids)}"


@dataclass
class ScriptedResponse:
    """One answer to one ``POST /v1/responses``.

    Attributes:
        events: ``(event name, data)`` pairs sent as SSE, in order.
        status: HTTP status.
        headers: Extra response headers (e.g. rate limits).
        raw_body: Sent instead of ``events`` when set (for malformed streams).
        cut_after: Close the connection after this many events, mid-stream.
        cut_reset: At ``cut_after``, abort the connection with a TCP reset instead of
            closing it (the client sees an error, not an end of body).
        stall_after: After this many events, send nothing more and keep the connection open
            until the client hangs up (or the server stops): a silent stream.
        inserts: ``(index, raw bytes)`` written as they are just before event ``index`` (an
            index past the last event: after it), for lines no event builder makes.
        delay_s: Wait before answering, in seconds.
        event_delay_s: Time between events, in seconds (kept as a rate: each event is due
            ``event_delay_s`` after the one before it was due).
        stamp_deltas: Replace :data:`SENT_AT` in each text delta with the time the server
            writes it (Unix seconds, as ``%.6f``): the lag to the reader can be measured.
    """

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None
    cut_after: int | None = None
    delay_s: float = 0.0
    event_delay_s: float = 0.0
    stamp_deltas: bool = False
    cut_reset: bool = False
    stall_after: int | None = None
    inserts: list[tuple[int, bytes]] = field(default_factory=list)

    def delayed(self, seconds: float, *, between_events: float = 0.0) -> ScriptedResponse:
        """This response, sent after ``seconds`` (and ``between_events`` between events)."""
        self.delay_s = seconds
        self.event_delay_s = between_events
        return self

    def with_rate_limits(
        self,
        primary_used_percent: float,
        primary_window_minutes: int = 300,
        primary_reset_at: int | None = None,
        secondary_used_percent: float | None = None,
        secondary_window_minutes: int = 10080,
    ) -> ScriptedResponse:
        """Adds codex's ``x-codex-*`` rate-limit headers (as ChatGPT-backed accounts get)."""
        reset = primary_reset_at if primary_reset_at is not None else int(time.time()) + 3600
        self.headers.update(
            {
                "x-codex-primary-used-percent": str(primary_used_percent),
                "x-codex-primary-window-minutes": str(primary_window_minutes),
                "x-codex-primary-reset-at": str(reset),
            }
        )
        if secondary_used_percent is not None:
            self.headers.update(
                {
                    "x-codex-secondary-used-percent": str(secondary_used_percent),
                    "x-codex-secondary-window-minutes": str(secondary_window_minutes),
                    "x-codex-secondary-reset-at": str(reset + 86400),
                }
            )
        return self

    def body(self) -> bytes:
        """The whole answer as sent when nothing happens between events."""
        if self.raw_body is not None:
            return self.raw_body
        chunks: list[bytes] = []
        for n, event in enumerate(self.events):
            chunks += self._inserted(n)
            chunks.append(sse(*event))
        return b"".join(chunks + self._inserted(len(self.events)))

    def _inserted(self, n: int) -> list[bytes]:
        """What is inserted just before event ``n`` (for ``n == len(events)``: after the last)."""
        last = n == len(self.events)
        return [raw for index, raw in self.inserts if index == n or (last and index > n)]

    def _plain(self) -> bool:
        """Whether the body can be written at once (no timing, cut, stall or stamps)."""
        return (
            self.cut_after is None and self.stall_after is None and not self.event_delay_s and not self.stamp_deltas
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (for driving a server in another process)."""
        return {
            "events": self.events,
            "status": self.status,
            "headers": self.headers,
            "raw_body": None if self.raw_body is None else self.raw_body.decode("latin-1"),
            "cut_after": self.cut_after,
            "delay_s": self.delay_s,
            "event_delay_s": self.event_delay_s,
            "stamp_deltas": self.stamp_deltas,
            "cut_reset": self.cut_reset,
            "stall_after": self.stall_after,
            "inserts": [[index, raw.decode("latin-1")] for index, raw in self.inserts],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScriptedResponse:
        raw = data.get("raw_body")
        return ScriptedResponse(
            events=[(name, payload) for name, payload in data["events"]],
            status=data["status"],
            headers=dict(data["headers"]),
            raw_body=None if raw is None else raw.encode("latin-1"),
            cut_after=data["cut_after"],
            delay_s=data["delay_s"],
            event_delay_s=data["event_delay_s"],
            stamp_deltas=data.get("stamp_deltas", False),
            cut_reset=data.get("cut_reset", False),
            stall_after=data.get("stall_after"),
            inserts=[(index, raw.encode("latin-1")) for index, raw in data.get("inserts", [])],
        )


def _usage(input_tokens: int, output_tokens: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def _wrap(
    items: list[tuple[str, dict[str, Any]]],
    usage: tuple[int, int, int, int],
) -> list[tuple[str, dict[str, Any]]]:
    response_id = _next_id("resp")
    return [
        ("response.created", {"response": {"id": response_id}}),
        *items,
        ("response.completed", {"response": {"id": response_id, "usage": _usage(*usage)}}),
    ]


def text(
    message: str,
    *,
    deltas: list[str] | None = None,
    input_tokens: int = 100,
    cached_input_tokens: int = 0,
    output_tokens: int | None = None,
    reasoning_tokens: int = 0,
) -> ScriptedResponse:
    """An assistant message streamed as ``deltas`` (default: the whole message at once).

    ``"".join(deltas)`` must equal ``message``. Usage defaults: 100 input tokens, one output
    token per delta.
    """
    parts = [message] if deltas is None else list(deltas)
    if "".join(parts) != message:
        raise ValueError("the deltas must join to the message")
    item_id = _next_id("msg")
    items: list[tuple[str, dict[str, Any]]] = [
        (
            "response.output_item.added",
            {"output_index": 0, "item": {"type": "message", "role": "assistant", "id": item_id, "content": []}},
        )
    ]
    items += [
        ("response.output_text.delta", {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": d})
        for d in parts
    ]
    items.append(
        (
            "response.output_item.done",
            {
                "output_index": 0,
                "item": {
                    "type": "message",
                    "role": "assistant",
                    "id": item_id,
                    "content": [{"type": "output_text", "text": message, "annotations": []}],
                },
            },
        )
    )
    out = len(parts) if output_tokens is None else output_tokens
    return ScriptedResponse(events=_wrap(items, (input_tokens, out, cached_input_tokens, reasoning_tokens)))


def reasoning(
    summary: list[str],
    *,
    content: list[str] | None = None,
    message: str = "",
    input_tokens: int = 100,
    reasoning_tokens: int = 20,
) -> ScriptedResponse:
    """The model reasons, then (if ``message`` is not empty) answers with ``message``.

    ``summary`` are the reasoning summary's parts, each streamed as one
    ``response.reasoning_summary_text.delta`` (codex's ``agent_reasoning_delta`` events, then
    ``agent_reasoning``); ``content`` is the raw reasoning text, streamed as
    ``response.reasoning_text.delta`` (codex shows it as ``agent_reasoning_raw_content*`` only
    with ``show_raw_agent_reasoning = true``). The item carries an opaque ``encrypted_content``.
    """
    raw = list(content or [])
    item_id = _next_id("rs")
    done_item: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": part} for part in summary],
        "encrypted_content": base64.b64encode(("scripted:" + "".join(raw)).encode()).decode(),
    }
    if raw:
        done_item["content"] = [{"type": "reasoning_text", "text": part} for part in raw]
    items: list[tuple[str, dict[str, Any]]] = [
        ("response.output_item.added", {"output_index": 0, "item": {"type": "reasoning", "id": item_id, "summary": []}})
    ]
    for index, part in enumerate(summary):
        items.append(("response.reasoning_summary_part.added", {"item_id": item_id, "output_index": 0, "summary_index": index}))
        items.append(
            (
                "response.reasoning_summary_text.delta",
                {"item_id": item_id, "output_index": 0, "summary_index": index, "delta": part},
            )
        )
    items += [
        ("response.reasoning_text.delta", {"item_id": item_id, "output_index": 0, "content_index": index, "delta": part})
        for index, part in enumerate(raw)
    ]
    items.append(("response.output_item.done", {"output_index": 0, "item": done_item}))
    if message:
        items += text(message).events[1:-1]
    return ScriptedResponse(events=_wrap(items, (input_tokens, reasoning_tokens + 1, 0, reasoning_tokens)))


def function_call(
    name: str, arguments: dict[str, Any], *, namespace: str | None = None, call_id: str | None = None
) -> ScriptedResponse:
    """The model calls the function tool ``name`` with ``arguments`` (a JSON object).

    ``namespace`` selects a namespaced tool: an MCP server ``srv``'s tools are in ``mcp__srv``.
    """
    item: dict[str, Any] = {
        "type": "function_call",
        "id": _next_id("fc"),
        "call_id": call_id or _next_id("call"),
        "name": name,
        "arguments": json.dumps(arguments),
    }
    if namespace is not None:
        item["namespace"] = namespace
    return ScriptedResponse(events=_wrap([("response.output_item.done", {"output_index": 0, "item": item})], (100, 10, 0, 0)))


def mcp_call(server: str, tool: str, arguments: dict[str, Any], *, call_id: str | None = None) -> ScriptedResponse:
    """The model calls ``tool`` of the MCP server configured as ``mcp_servers.<server>``."""
    return function_call(tool, arguments, namespace=f"mcp__{server}", call_id=call_id)


def exec_command(cmd: str, *, call_id: str | None = None, workdir: str | None = None) -> ScriptedResponse:
    """The model calls codex's ``exec_command`` tool with ``cmd`` (a shell command line)."""
    args: dict[str, Any] = {"cmd": cmd}
    if workdir is not None:
        args["workdir"] = workdir
    return function_call("exec_command", args, call_id=call_id)


def apply_patch(patch: str, *, call_id: str | None = None) -> ScriptedResponse:
    """The model calls codex's ``apply_patch`` (freeform) tool with ``patch``."""
    item = {
        "type": "custom_tool_call",
        "id": _next_id("ctc"),
        "call_id": call_id or _next_id("call"),
        "name": "apply_patch",
        "input": patch,
    }
    return ScriptedResponse(events=_wrap([("response.output_item.done", {"output_index": 0, "item": item})], (100, 10, 0, 0)))


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: When it arrived, Unix seconds.
    at: float = field(default_factory=time.time)

    def user_texts(self) -> list[str]:
        """The text of every user message in a Responses API request body."""
        texts: list[str] = []
        for item in (self.body or {}).get("input", []) if isinstance(self.body, dict) else []:
            if isinstance(item, dict) and item.get("role") == "user":
                for part in item.get("content", []):
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        texts.append(part["text"])
        return texts


class ScriptedModel:
    """A Responses API server on 127.0.0.1 answering from a script.

    Each ``POST /v1/responses`` takes the next response: first from a route whose marker
    appears in the request body (:meth:`route`), else from the shared queue
    (:meth:`enqueue`). With nothing scripted it answers HTTP 500 "script exhausted", so a
    missing script fails a turn loudly. ``GET /v1/models`` answers an empty list. Every request
    is recorded in :attr:`requests`. Thread-safe; one asyncio loop in a daemon thread serves
    every connection.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._queue: deque[ScriptedResponse] = deque()
        self._routes: list[tuple[str, deque[ScriptedResponse]]] = []
        self.requests: list[RecordedRequest] = []
        #: Served at ``GET .../wham/usage`` (codex's backend usage endpoint, for ChatGPT
        #: logins) when set: ``{"plan_type", "rate_limit": {"primary_window": {"used_percent",
        #: "limit_window_seconds", "reset_at"}, "secondary_window": ...}, "credits": ...}``.
        self.usage: dict[str, Any] | None = None
        self._serving = Serving(self, host, port)

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:41234/v1``."""
        host, port = self._serving.address
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedModel:
        """Starts serving (the socket listens from construction on)."""
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket (later requests are refused); every open
        connection, silent streams (:func:`~codexrs.testing.stall`) included, is closed."""
        self._serving.stop()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Appends responses to the shared queue."""
        with self._lock:
            self._queue.extend(responses)

    def route(self, marker: str, *responses: ScriptedResponse) -> None:
        """Answers requests whose body contains ``marker`` from these responses first.

        Routes are tried in the order they were added, and a request body carries the thread's
        whole history: route a later turn's marker before an earlier turn's.
        """
        with self._lock:
            self._routes.append((marker, deque(responses)))

    def config(self, model: str = DEFAULT_MODEL) -> dict[str, Any]:
        """codex config overrides pointing codex at this server (no retries)."""
        return config_for(self.url, model)

    def response_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST .../responses`` requests."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/responses")]

    def _next(self, body_text: str) -> ScriptedResponse | None:
        with self._lock:
            for marker, queue in self._routes:
                if queue and marker in body_text:
                    return queue.popleft()
            return self._queue.popleft() if self._queue else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def config_for(url: str, model: str = DEFAULT_MODEL) -> dict[str, Any]:
    """codex config overrides for a scripted model at ``url``."""
    return {
        "model": model,
        "model_provider": "scripted",
        "model_providers.scripted.name": "codexrs scripted model",
        "model_providers.scripted.base_url": url,
        "model_providers.scripted.wire_api": "responses",
        "model_providers.scripted.request_max_retries": 0,
        "model_providers.scripted.stream_max_retries": 0,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m codexrs.testing``: serve until killed, printing the base URL.

    Responses are scripted over HTTP: ``POST /_codexrs/enqueue`` with a JSON list of
    :meth:`ScriptedResponse.to_json` objects, ``POST /_codexrs/route`` with
    ``{"marker": ..., "responses": [...]}`` (see :meth:`ScriptedModel.route`).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    model = ScriptedModel(port=args.port).start()
    print(model.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        model.stop()
        sys.exit(0)

