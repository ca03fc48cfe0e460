"""OpenTelemetry: a real tool turn (an approved command) traced as thread > turn > approval and
tool call, and measured (turns, tokens, duration, time to first token, tool calls, queue depth),
read back through the OpenTelemetry SDK's in-memory exporters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import codexrs
from codexrs.otel import instrument
from codexrs.testing import ScriptedModel, exec_command, text


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


RUNS = 20


def test_a_tool_turn_is_traced_and_measured(scripted_model: ScriptedModel, codex_home: Path, workspace: Path) -> None:
    # 20 runs in a row: codex may report the command's end after task_complete, and the span,
    # its exit code and the tool-call count must not depend on that order
    with codexrs.Manager(codex_home, workspace, scripted_model.config()) as manager:
        for run in range(RUNS):
            _check_one_traced_turn(manager, scripted_model, workspace, run)


def _check_one_traced_turn(manager: codexrs.Manager, scripted_model: ScriptedModel, workspace: Path, run: int) -> None:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    scripted_model.route(f"<otel-{run}>", exec_command(f"touch traced-{run}.txt"), text("done", input_tokens=120, output_tokens=30))
    instrumentation = instrument(manager, tracer_provider=tracer_provider, meter_provider=meter_provider)
    name = f"t{run}"
    managed = manager.create(name, approval_policy="untrusted", sandbox="workspace-write", on_approval=lambda request: True)
    manager.send(name, f"<otel-{run}>")
    assert manager.wait(name).status == "completed"
    thread_id = managed.thread.id
    manager.remove(name)  # the thread shuts down: its span ends
    instrumentation.close()
    assert (workspace / f"traced-{run}.txt").exists()

    finished = {s.name: s for s in spans.get_finished_spans()}
    assert {"codex.thread", "codex.turn", "codex.approval", "codex.tool.exec"} <= set(finished), run
    thread, turn = finished["codex.thread"], finished["codex.turn"]
    approval, tool = finished["codex.approval"], finished["codex.tool.exec"]
    # thread > turn > approval and tool call, one trace, each with the ids
    assert turn.parent is not None and turn.parent.span_id == thread.context.span_id
    assert approval.parent is not None and approval.parent.span_id == turn.context.span_id
    assert tool.parent is not None and tool.parent.span_id == turn.context.span_id
    assert len({s.context.trace_id for s in finished.values()}) == 1
    assert all(s.attributes is not None and s.attributes["codex.thread_id"] == thread_id for s in finished.values())
    assert turn.attributes is not None and tool.attributes is not None and approval.attributes is not None
    assert turn.attributes["codex.turn.status"] == "completed" and turn.attributes["codex.turn_id"] == tool.attributes["codex.turn_id"]
    assert f"touch traced-{run}.txt" in str(tool.attributes["codex.command"]) and tool.attributes.get("codex.exit_code") == 0, run
    assert approval.attributes["codex.approval.decision"] == "approved" and approval.end_time <= tool.start_time  # type: ignore[operator]
    assert turn.start_time <= tool.start_time and tool.end_time <= turn.end_time  # type: ignore[operator]

    metrics = _metrics(reader)
    (turns,) = metrics["codex.turns"]
    assert turns.value == 1 and dict(turns.attributes) == {"status": "completed"}
    tokens = {p.attributes["kind"]: p.value for p in metrics["codex.tokens"]}
    assert tokens["input"] >= 120 and tokens["output"] >= 30  # two model requests: the tool call's and the answer's
    (duration,) = metrics["codex.turn.duration"]
    assert duration.count == 1 and duration.sum > 0
    assert metrics["codex.turn.time_to_first_token"][0].count == 1
    (calls,) = metrics["codex.tool.calls"]
    assert calls.value == 1 and dict(calls.attributes) == {"tool": "exec", "status": "ok"}
    assert [p.value for p in metrics["codex.manager.queue_depth"]] == [0]
    (lag,) = metrics["codex.event.lag"]
    assert lag.count > 10 and 0 <= lag.min and lag.max < 30  # every event read, each lag measured
