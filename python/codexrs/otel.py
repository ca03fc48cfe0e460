"""OpenTelemetry traces and metrics of codex threads (the ``otel`` extra: opentelemetry-api).

    from codexrs.otel import instrument
    instrument(codex)          # a Codex, AsyncCodex, Manager or AsyncManager

An event hook turns each thread's events into spans and metrics, through the global tracer and
meter providers (or the ones given):

* spans: ``codex.thread`` (from the thread's first event to its ``shutdown_complete``, or
  :meth:`Instrumentation.close`) > ``codex.turn`` (``task_started`` to ``task_complete`` or
  ``turn_aborted``, as the events are read, or to the end of the last tool call it began when
  codex reports that after ``task_complete``; codex's own duration is in the metrics) >
  ``codex.tool.exec``,
  ``codex.tool.mcp``, ``codex.tool.patch`` (a tool call's begin to its end) and
  ``codex.approval`` (a request to its answer: the call starting, a denial, or the turn's end);
  every span carries ``codex.thread_id`` and, below the thread, ``codex.turn_id``;
* metrics: ``codex.turns`` (by ``status``), ``codex.tokens`` (by ``kind``: input,
  cached_input, output, reasoning_output), ``codex.turn.duration`` and
  ``codex.turn.time_to_first_token`` (seconds, codex's own figures), ``codex.tool.calls`` (by
  ``tool`` and ``status``), ``codex.event.lag`` (seconds from codexrs's pump taking an
  event from codex-core to Python reading it: its batch's oldest event's), and, for a manager, ``codex.manager.queue_depth`` (turns sent and
  not yet started) and ``codex.manager.running_turns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from .events import (
    ApplyPatchApprovalRequest,
    Event,
    ExecApprovalRequest,
    ExecCommandBegin,
    ExecCommandEnd,
    McpToolCallBegin,
    McpToolCallEnd,
    PatchApplyBegin,
    PatchApplyEnd,
    RequestDenied,
    RequestTimedOut,
    ShutdownComplete,
    TokenCount,
    TurnAborted,
    TurnComplete,
    TurnStarted,
)
from ._core.engine import AsyncCodex, Codex
from ._extras import require
from .hooks import HookEvent
from .manager import AsyncManager, ManagedThread, Manager, SyncManagedThread

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["Instrumentation", "Instrumented", "instrument"]

Instrumented = Union[Codex, AsyncCodex, Manager, AsyncManager]
"""What :func:`instrument` observes: every thread of an engine or of a manager."""

_TOKEN_KINDS = {"input": "input_tokens", "cached_input": "cached_input_tokens", "output": "output_tokens",
                "reasoning_output": "reasoning_output_tokens"}  # fmt: skip


@dataclass
class _Turn:
    id: str
    span: Span
    tokens_at_start: dict[str, int]
    tools: dict[str, Span] = field(default_factory=dict)
    approvals: dict[str, Span] = field(default_factory=dict)
    #: ``task_complete``, read while tool calls of the turn still ran: the turn's span ends
    #: with the last of them (or the thread's next turn or shutdown).
    completed: TurnComplete | None = None


@dataclass
class _Thread:
    span: Span
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KINDS.values(), 0))
    turn: _Turn | None = None


class Instrumentation:
    """The hook :func:`instrument` installs; :meth:`close` ends every open span and removes it."""

    def __init__(
        self, target: Instrumented, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
    ) -> None:
        trace = require("opentelemetry.trace", feature="codexrs.otel", library="OpenTelemetry", extra="otel")
        metrics = require("opentelemetry.metrics", feature="codexrs.otel", library="OpenTelemetry", extra="otel")
        self._trace = trace
        self._target = target
        self.tracer = trace.get_tracer("codexrs", tracer_provider=tracer_provider)
        meter = metrics.get_meter("codexrs", meter_provider=meter_provider)
        self.turns = meter.create_counter("codex.turns", unit="{turn}", description="Turns ended, by status")
        self.tokens = meter.create_counter("codex.tokens", unit="{token}", description="Tokens used, by kind")
        self.duration = meter.create_histogram("codex.turn.duration", unit="s", description="Turn duration (codex's)")
        self.first_token = meter.create_histogram(
            "codex.turn.time_to_first_token", unit="s", description="Time to the turn's first token (codex's)"
        )
        self.tool_calls = meter.create_counter("codex.tool.calls", unit="{call}", description="Tool calls, by tool and status")
        self.lag = meter.create_histogram(
            "codex.event.lag", unit="s", description="From codexrs's pump taking an event from codex-core to Python reading it (upper bound)"
        )
        if isinstance(target, (Manager, AsyncManager)):
            meter.create_observable_gauge(
                "codex.manager.queue_depth", callbacks=[self._queue_depth], unit="{turn}", description="Turns sent and not started"
            )
            meter.create_observable_gauge(
                "codex.manager.running_turns", callbacks=[self._running], unit="{turn}", description="Turns running"
            )
        self.threads: dict[str, _Thread] = {}
        target.add_hook(self)

    def _managed(self) -> list[ManagedThread | SyncManagedThread]:
        target = self._target
        return list(target.list()) if isinstance(target, (Manager, AsyncManager)) else []

    def _queue_depth(self, options: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(sum(m.queued_turns for m in self._managed()))]

    def _running(self, options: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(sum(1 for m in self._managed() if m.status in ("running", "waiting_for_approval")))]

    def _context(self, span: Span) -> Context:
        context: Context = self._trace.set_span_in_context(span)
        return context

    def _thread(self, thread_id: str) -> _Thread:
        thread = self.threads.get(thread_id)
        if thread is None:
            span = self.tracer.start_span("codex.thread", attributes={"codex.thread_id": thread_id})
            thread = self.threads[thread_id] = _Thread(span)
        return thread

    def __call__(self, seen: HookEvent) -> None:
        event, thread_id = seen.event, seen.thread_id
        self.lag.record(seen.lag_s)
        thread = self._thread(thread_id)
        turn = thread.turn
        if isinstance(event, TurnStarted):
            if turn is not None and turn.completed is not None:
                self._end_turn(thread, turn, turn.completed)
            attributes = {"codex.thread_id": thread_id, "codex.turn_id": event.turn_id}
            span = self.tracer.start_span("codex.turn", context=self._context(thread.span), attributes=attributes)
            thread.turn = _Turn(event.turn_id, span, dict(thread.tokens))
        elif isinstance(event, TokenCount) and event.info is not None:
            total = event.info.total_token_usage
            thread.tokens = {name: getattr(total, name) for name in _TOKEN_KINDS.values()}
        elif isinstance(event, TurnComplete) and turn is not None and turn.tools:
            turn.completed = event  # a command's end may follow task_complete
        elif isinstance(event, (TurnComplete, TurnAborted)) and turn is not None:
            self._end_turn(thread, turn, event)
        elif isinstance(event, ShutdownComplete):
            if turn is not None:
                self._end_turn(thread, turn, turn.completed)
            thread.span.end()
            del self.threads[thread_id]
        elif turn is not None:
            self._tool(turn, thread_id, event)
            if turn.completed is not None and not turn.tools:
                self._end_turn(thread, turn, turn.completed)

    def _tool(self, turn: _Turn, thread_id: str, event: Event) -> None:
        ids = {"codex.thread_id": thread_id, "codex.turn_id": turn.id}
        context = self._context(turn.span)
        if isinstance(event, (ExecApprovalRequest, ApplyPatchApprovalRequest)):
            kind = "exec" if isinstance(event, ExecApprovalRequest) else "patch"
            turn.approvals[event.call_id] = self.tracer.start_span(
                "codex.approval", context=context, attributes={**ids, "codex.approval.kind": kind, "codex.call_id": event.call_id}
            )
        elif isinstance(event, (RequestDenied, RequestTimedOut)):
            span = turn.approvals.pop(event.key, None)
            if span is not None:
                span.set_attribute("codex.approval.decision", "denied" if isinstance(event, RequestDenied) else "timed_out")
                span.end()
        elif isinstance(event, (ExecCommandBegin, McpToolCallBegin, PatchApplyBegin)):
            approval = turn.approvals.pop(event.call_id, None)
            if approval is not None:
                approval.set_attribute("codex.approval.decision", "approved")
                approval.end()
            extra: dict[str, Any]
            if isinstance(event, ExecCommandBegin):
                name, extra = "codex.tool.exec", {"codex.command": " ".join(event.command)}
            elif isinstance(event, McpToolCallBegin):
                name, extra = "codex.tool.mcp", {"codex.mcp.server": event.invocation.server, "codex.mcp.tool": event.invocation.tool}
            else:
                name, extra = "codex.tool.patch", {"codex.patch.files": len(event.changes)}
            turn.tools[event.call_id] = self.tracer.start_span(name, context=context, attributes={**ids, "codex.call_id": event.call_id, **extra})
        elif isinstance(event, (ExecCommandEnd, McpToolCallEnd, PatchApplyEnd)):
            span = turn.tools.pop(event.call_id, None)
            if isinstance(event, ExecCommandEnd):
                tool, ok = "exec", event.exit_code == 0
                if span is not None:
                    span.set_attribute("codex.exit_code", event.exit_code)
            elif isinstance(event, McpToolCallEnd):
                tool, ok = "mcp", not isinstance(event.result, str)
            else:
                tool, ok = "patch", event.success
            self.tool_calls.add(1, {"tool": tool, "status": "ok" if ok else "error"})
            if span is not None:
                if not ok:
                    span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
                span.end()

    def _end_turn(self, thread: _Thread, turn: _Turn, event: TurnComplete | TurnAborted | None) -> None:
        for span in [*turn.tools.values(), *turn.approvals.values()]:
            span.end()
        if isinstance(event, TurnComplete):
            status = "failed" if event.error is not None else "completed"
            if event.time_to_first_token_ms is not None:
                self.first_token.record(event.time_to_first_token_ms / 1000)
        else:
            status = "interrupted"
        if event is not None and event.duration_ms is not None:
            self.duration.record(event.duration_ms / 1000, {"status": status})
        self.turns.add(1, {"status": status})
        for kind, name in _TOKEN_KINDS.items():
            used = thread.tokens[name] - turn.tokens_at_start.get(name, 0)
            if used > 0:
                self.tokens.add(used, {"kind": kind})
                turn.span.set_attribute(f"codex.tokens.{kind}", used)
        turn.span.set_attribute("codex.turn.status", status)
        if status == "failed":
            error = event.error if isinstance(event, TurnComplete) else None
            turn.span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, None if error is None else error.message))
        turn.span.end()
        thread.turn = None

    def close(self) -> None:
        """Ends every open span (threads still loaded, turns still running) and stops observing."""
        try:
            self._target.remove_hook(self)
        except ValueError:
            pass
        for thread in list(self.threads.values()):
            if thread.turn is not None:
                self._end_turn(thread, thread.turn, thread.turn.completed)
            thread.span.end()
        self.threads.clear()


def instrument(
    target: Instrumented, *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Instrumentation:
    """Traces and measures every thread of ``target`` (a :class:`~codexrs.Codex`,
    :class:`~codexrs.AsyncCodex`, :class:`~codexrs.Manager` or :class:`~codexrs.AsyncManager`)
    from now on; see the module's docstring for the spans and metrics. ``tracer_provider`` and
    ``meter_provider`` default to OpenTelemetry's global ones.

    Raises:
        ImportError: opentelemetry-api is not installed (``pip install 'codexrs[otel]'``).
    """
    return Instrumentation(target, tracer_provider, meter_provider)
