"""The scripted model server (OpenAI Responses API over server-sent events)."""

from __future__ import annotations

import base64
import itertools
import json
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
        event_delay_s: Wait between events, in seconds.
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
            chunks.append(_sse(*event))
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


#: In a delta of a response with ``stamp_deltas``, replaced by the time it is sent.
SENT_AT = "{sent_at}"
#: How long a silent stream (``stall_after``) holds its connection at most, in seconds.
STALL_LIMIT_S = 600.0


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


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
    is recorded in :attr:`requests`. Thread-safe; runs in a daemon thread.
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
        self._stopping = threading.Event()
        self._server = _Server((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:41234/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedModel:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket (later requests are refused); silent streams
        (:func:`~codexrs.testing.stall`) end."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

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


class _Server(ThreadingHTTPServer):
    # Hundreds of conversations connect at once: the default backlog of 5 drops connections.
    request_queue_size = 4096
    daemon_threads = True


def _handler(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _record(self, raw: bytes) -> None:
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            model._record(RecordedRequest(self.command, self.path, dict(self.headers.items()), body))

        def do_GET(self) -> None:
            self._record(b"")
            if self.path.rstrip("/").endswith("/models") or "/models?" in self.path:
                self._send(200, b'{"models": []}', "application/json")
            elif self.path.endswith(("/wham/usage", "/api/codex/usage")) and model.usage is not None:
                self._send(200, json.dumps(model.usage).encode(), "application/json")
            else:
                self._send(404, b'{"error": {"message": "not found"}}', "application/json")

        def do_POST(self) -> None:
            raw = self._body()
            self._record(raw)
            if self.path == "/_codexrs/enqueue":
                model.enqueue(*(ScriptedResponse.from_json(r) for r in json.loads(raw)))
                self._send(200, b"{}", "application/json")
                return
            if self.path == "/_codexrs/route":
                spec = json.loads(raw)
                model.route(spec["marker"], *(ScriptedResponse.from_json(r) for r in spec["responses"]))
                self._send(200, b"{}", "application/json")
                return
            if not self.path.rstrip("/").endswith("/responses"):
                self._send(404, b'{"error": {"message": "not found"}}', "application/json")
                return
            response = model._next(raw.decode("utf-8", "replace"))
            if response is None:
                self._send(500, b'{"error": {"message": "codexrs scripted model: script exhausted"}}', "application/json")
                return
            if response.delay_s:
                time.sleep(response.delay_s)
            if response.status != 200:
                self._send(response.status, response.body(), response.headers.get("content-type", "application/json"), response.headers)
                return
            self._stream(response)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            for k, v in (headers or {}).items():
                if k.lower() != "content-type":
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, response: ScriptedResponse) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            for k, v in response.headers.items():
                self.send_header(k, v)
            self.end_headers()
            try:
                if response.raw_body is not None or response._plain():
                    self.wfile.write(response.body())
                else:
                    self._events(response)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (e.g. the turn was interrupted)
            self.close_connection = True

        def _events(self, response: ScriptedResponse) -> None:
            """Writes the events one by one, then cuts, stalls or ends the stream."""
            stop = min(n for n in (response.cut_after, response.stall_after, len(response.events)) if n is not None)
            for n, (name, data) in enumerate(response.events[:stop]):
                for raw in response._inserted(n):
                    self.wfile.write(raw)
                if response.stamp_deltas and name == "response.output_text.delta":
                    data = {**data, "delta": data["delta"].replace(SENT_AT, f"{time.time():.6f}")}
                self.wfile.write(_sse(name, data))
                self.wfile.flush()
                if response.event_delay_s:
                    time.sleep(response.event_delay_s)
            if stop == len(response.events):
                for raw in response._inserted(stop):
                    self.wfile.write(raw)
            self.wfile.flush()
            stalls = response.stall_after is not None and (response.cut_after is None or response.stall_after <= response.cut_after)
            if stalls:
                self._hold_open()
            elif response.cut_reset and response.cut_after is not None:
                self._reset()

        def _hold_open(self) -> None:
            """Sends nothing until the client hangs up or the server stops (at most
            :data:`STALL_LIMIT_S`)."""
            deadline = time.monotonic() + STALL_LIMIT_S
            while not model._stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(65536):
                    return  # end of file: the client closed the connection

        def _reset(self) -> None:
            """Aborts the connection: a TCP RST, no FIN (SO_LINGER 0, then close)."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # its reference would keep the socket open past close()
            self.connection.close()

    return Handler


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
    # One thread per connection. With a thousand of them streaming, this process went past a
    # whole core in bursts (1.3 to 1.7 cores in 13 of 62 seconds, on 2 cores) and starved the
    # client it serves; with a 50 ms switch interval, in 0 and 4 seconds of two runs (README,
    # "Many conversations at once"). Likely cause: every thread waiting for the GIL times out
    # each interval (5 ms by default) and asks for a hand-off. The threads release the GIL at
    # every write and sleep.
    sys.setswitchinterval(0.05)
    model = ScriptedModel(port=args.port).start()
    print(model.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        model.stop()
        sys.exit(0)

