"""The scripted model's HTTP side: one asyncio loop, in a daemon thread, serves every connection.

HTTP/1.0 (a body ends when the connection closes), as codex's client expects of it. One loop
rather than a thread per connection: with a thousand conversations streaming at once a thread
per connection cost the serving process more than a core in bursts (every waiting thread asks
for the GIL each switch interval), on the same cores as the client it serves.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import ScriptedModel, ScriptedResponse

#: How long a silent stream (``stall_after``) holds its connection at most, in seconds.
STALL_LIMIT_S = 600.0
#: In a delta of a response with ``stamp_deltas``, replaced by the time it is sent.
SENT_AT = "{sent_at}"
_JSON = "application/json"
_NOT_FOUND = b'{"error": {"message": "not found"}}'


def sse(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event: ``event: <name>`` and its data (``{"type": name, **data}``)."""
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


class Serving:
    """Serves ``model`` on ``host:port`` (bound at once; served from :meth:`start`)."""

    def __init__(self, model: ScriptedModel, host: str, port: int) -> None:
        self._model = model
        # Hundreds of conversations connect at once: a short backlog drops connections.
        self._sock = socket.create_server((host, port), backlog=4096)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._failed: Exception | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="scripted-model", daemon=True)
        self._thread.start()
        ready.wait()
        if self._failed is not None:
            self._thread = None
            raise RuntimeError("the scripted model could not serve (was it stopped?)") from self._failed

    def stop(self) -> None:
        """Closes the socket (later connections are refused) and every open connection."""
        if self._thread is not None and self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
            self._thread = None
        self._sock.close()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except Exception as exc:  # start() raises it (e.g. started again after stop: no socket)
            self._failed = exc
        finally:
            ready.set()
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self._sock)
        ready.set()
        await self._stop.wait()
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        # drain() then waits until the kernel has taken every byte: a reset (cut_reset) follows
        # exactly what was written, as a blocking write would.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await self._exchange(reader, writer)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away or sent no valid request
        except asyncio.CancelledError:
            pass  # the server stops
        finally:
            self._connections.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _version = head[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip()] = value.strip()
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0") or 0)
        raw = await reader.readexactly(length) if length else b""
        from .model import RecordedRequest

        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        model = self._model
        model._record(RecordedRequest(method, path, headers, body))
        if method == "GET":
            if path.rstrip("/").endswith("/models") or "/models?" in path:
                self._send(writer, 200, b'{"models": []}', _JSON)
            elif path.endswith(("/wham/usage", "/api/codex/usage")) and model.usage is not None:
                self._send(writer, 200, json.dumps(model.usage).encode(), _JSON)
            else:
                self._send(writer, 404, _NOT_FOUND, _JSON)
        elif method != "POST":
            self._send(writer, 501, b'{"error": {"message": "unsupported method"}}', _JSON)
        elif path in ("/_codexrs/enqueue", "/_codexrs/route"):
            self._script(path, json.loads(raw))
            self._send(writer, 200, b"{}", _JSON)
        elif not path.rstrip("/").endswith("/responses"):
            self._send(writer, 404, _NOT_FOUND, _JSON)
        else:
            await self._respond(reader, writer, raw)
        await writer.drain()

    def _script(self, path: str, spec: Any) -> None:
        from .model import ScriptedResponse

        if path == "/_codexrs/enqueue":
            self._model.enqueue(*(ScriptedResponse.from_json(r) for r in spec))
        else:
            self._model.route(spec["marker"], *(ScriptedResponse.from_json(r) for r in spec["responses"]))

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> None:
        response = self._model._next(raw.decode("utf-8", "replace"))
        if response is None:
            self._send(writer, 500, b'{"error": {"message": "codexrs scripted model: script exhausted"}}', _JSON)
            return
        if response.delay_s:
            await asyncio.sleep(response.delay_s)
        if response.status != 200:
            content_type = response.headers.get("content-type", _JSON)
            self._send(writer, response.status, response.body(), content_type, response.headers)
            return
        extra = {"cache-control": "no-cache", **response.headers}
        writer.write(_head(200, "text/event-stream", None, extra))
        if response.raw_body is not None or response._plain():
            writer.write(response.body())
        else:
            await self._events(reader, writer, response)

    async def _events(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: ScriptedResponse) -> None:
        """Writes the events one by one, then cuts, stalls or ends the stream."""
        stop = min(n for n in (response.cut_after, response.stall_after, len(response.events)) if n is not None)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, (name, data) in enumerate(response.events[:stop]):
            for raw in response._inserted(n):
                writer.write(raw)
            if response.stamp_deltas and name == "response.output_text.delta":
                data = {**data, "delta": data["delta"].replace(SENT_AT, f"{time.time():.6f}")}
            writer.write(sse(name, data))
            await writer.drain()
            if response.event_delay_s:
                # On a schedule from the first event: a late wake-up does not slow the rate.
                await asyncio.sleep(max(0.0, start + (n + 1) * response.event_delay_s - loop.time()))
        if stop == len(response.events):
            for raw in response._inserted(stop):
                writer.write(raw)
        await writer.drain()
        if response.stall_after is not None and (response.cut_after is None or response.stall_after <= response.cut_after):
            await _hold_open(reader)
        elif response.cut_reset and response.cut_after is not None:
            # A TCP RST, no FIN: SO_LINGER 0, then close.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    @staticmethod
    def _send(
        writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        writer.write(_head(status, content_type, len(body), headers or {}) + body)


async def _hold_open(reader: asyncio.StreamReader) -> None:
    """Sends nothing until the client hangs up (at most :data:`STALL_LIMIT_S`; the server's
    stop cancels it)."""

    async def until_eof() -> None:
        while await reader.read(65536):
            pass

    try:
        await asyncio.wait_for(until_eof(), STALL_LIMIT_S)
    except asyncio.TimeoutError:
        pass


def _head(status: int, content_type: str, length: int | None, headers: dict[str, str]) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.0 {status} {reason}", "Server: codexrs-scripted-model", f"Date: {formatdate(usegmt=True)}"]
    lines.append(f"content-type: {content_type}")
    if length is not None:
        lines.append(f"content-length: {length}")
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-type"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
