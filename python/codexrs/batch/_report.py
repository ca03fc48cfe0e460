"""``codexrs report``: a batch's results file as one self-contained HTML page (charts by Plotly,
its JavaScript inlined, so the page works offline), or two results files side by side."""

from __future__ import annotations

import html
import math
import os
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import msgspec

from .._extras import require
from ._record import Record, decode_record

__all__ = ["Results", "load", "write_report"]

#: The outcomes a result line can have, in the order the page shows them, with their colours.
OUTCOMES = {"passed": "#2e7d32", "failed": "#c62828", "error": "#6a1b9a", "timeout": "#ef6c00", "over_budget": "#f9a825"}
#: The two runs' colours in a comparison.
RUN_COLOURS = ("#1565c0", "#d84315")


@dataclass
class Results:
    """One results file, read.

    Attributes:
        path: The file.
        records: Its result lines, one per task id (a later line for an id replaces an earlier),
            each a :class:`~codexrs.batch.Record` (a line of an older codexrs gets the defaults
            of the keys it lacks). ``record["key"]``, as when these were dicts, still reads a
            field (as JSON builtins), with a ``DeprecationWarning``.
        bad_lines: Line numbers that are not result lines (a line cut short by a kill, say, or
            one that does not decode as a :class:`~codexrs.batch.Record`).
    """

    path: Path
    records: list[Record]
    bad_lines: list[int]

    @property
    def name(self) -> str:
        return self.path.name

    def by_id(self) -> dict[str, Record]:
        """The records by task id."""
        return {r.id: r for r in self.records}


def load(path: str | os.PathLike[str]) -> Results:
    """Reads a results file written by :func:`codexrs.batch.run`.

    Raises:
        FileNotFoundError: There is no such file.
    """
    p = Path(path)
    by_id: dict[str, Record] = {}
    bad: list[int] = []
    with open(p, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = decode_record(line)
            except msgspec.DecodeError:
                bad.append(number)
                continue
            by_id.pop(record.id, None)
            by_id[record.id] = record
    return Results(p, list(by_id.values()), bad)


# -- what the page shows of one record -------------------------------------------------------


def _total_s(r: Record) -> float:
    return r.timings.total_s


def _first_token_s(r: Record) -> float | None:
    return r.timings.first_token_s


def _tokens(r: Record) -> int:
    return r.usage.input_tokens + r.usage.output_tokens


def _passed(r: Record | None) -> bool:
    return r is not None and r.outcome == "passed"


def _diff_lines(r: Record) -> tuple[int, int]:
    added = removed = 0
    for line in r.diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class _Stats:
    tasks: int
    passed: int
    outcomes: dict[str, int]
    median_s: float | None
    p90_s: float | None
    median_first_token_s: float | None
    tokens: int
    versions: list[str]

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.tasks if self.tasks else None


def _stats(results: Results) -> _Stats:
    records = results.records
    outcomes: dict[str, int] = {}
    for r in records:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    durations = list(map(_total_s, records))
    first = [d for d in map(_first_token_s, records) if d is not None]
    versions = sorted({" / ".join(f"{k} {v}" for k, v in r.versions.items()) for r in records} - {""})
    return _Stats(
        tasks=len(records),
        passed=outcomes.get("passed", 0),
        outcomes=outcomes,
        median_s=statistics.median(durations) if durations else None,
        p90_s=_quantile(durations, 0.9),
        median_first_token_s=statistics.median(first) if first else None,
        tokens=sum(map(_tokens, records)),
        versions=versions,
    )


# -- formatting ------------------------------------------------------------------------------

_e = html.escape


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _signed(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:+,.{digits}f}{unit}" if isinstance(value, float) else f"{value:+,}{unit}"


def _cell(text: str, sort: float | str | None = None, cls: str = "") -> str:
    key = "" if sort is None else f' data-v="{_e(str(sort))}"'
    klass = f' class="{cls}"' if cls else ""
    return f"<td{key}{klass}>{text}</td>"


def _outcome_badge(outcome: str | None) -> str:
    if outcome is None:
        return '<span class="badge missing">absent</span>'
    colour = OUTCOMES.get(outcome, "#555")
    return f'<span class="badge" style="background:{colour}">{_e(outcome)}</span>'


# -- charts (Plotly) -------------------------------------------------------------------------


class _Charts:
    """Plotly figures rendered as ``<div>``s; the page inlines Plotly's JavaScript once."""

    def __init__(self) -> None:
        self.go = require("plotly.graph_objects", feature="codexrs report", library="Plotly", extra="report")
        self.count = 0

    def html(self, fig: Any, title: str) -> str:
        self.count += 1
        fig.update_layout(
            title=title, height=340, margin={"l": 50, "r": 20, "t": 50, "b": 80}, template="plotly_white",
            legend={"orientation": "h", "y": -0.35},
        )  # fmt: skip
        div: str = fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"chart-{self.count}",
            config={"displaylogo": False, "responsive": True},
        )  # fmt: skip
        return f'<div class="chart">{div}</div>'

    def outcomes(self, runs: Sequence[Results]) -> str:
        fig = self.go.Figure()
        names = [o for o in OUTCOMES] + sorted({r.outcome for run in runs for r in run.records} - set(OUTCOMES))
        for i, run in enumerate(runs):
            counts = _stats(run).outcomes
            colours = [OUTCOMES.get(o, "#555") for o in names] if len(runs) == 1 else RUN_COLOURS[i]
            fig.add_bar(x=names, y=[counts.get(o, 0) for o in names], name=run.name, marker_color=colours)
        fig.update_layout(barmode="group", showlegend=len(runs) > 1, yaxis_title="tasks")
        return self.html(fig, "Outcomes")

    def histogram(self, runs: Sequence[Results], values: Callable[[Record], float | None], title: str, axis: str) -> str:
        series = [[v for v in map(values, run.records) if v is not None] for run in runs]
        if not any(series):
            return f'<div class="chart empty"><h3>{_e(title)}</h3><p>No task has this figure.</p></div>'
        fig = self.go.Figure()
        for i, (run, data) in enumerate(zip(runs, series)):
            fig.add_histogram(x=data, name=run.name, marker_color=RUN_COLOURS[i], opacity=0.75 if len(runs) > 1 else 1.0)
        fig.update_layout(barmode="overlay", showlegend=len(runs) > 1, xaxis_title=axis, yaxis_title="tasks")
        return self.html(fig, title)

    def rate_limits(self, runs: Sequence[Results]) -> str:
        fig = self.go.Figure()
        traces = 0
        for i, run in enumerate(runs):
            windows: dict[str, tuple[list[datetime], list[float]]] = {}
            for r in sorted(run.records, key=lambda r: r.timings.ended_at or 0):
                for snap in r.rate_limits:
                    at = snap.get("at")
                    if not isinstance(at, (int, float)):
                        continue
                    for slot in ("primary", "secondary"):
                        window = snap.get(slot)
                        if not isinstance(window, dict) or not isinstance(window.get("used_percent"), (int, float)):
                            continue
                        minutes = window.get("window_minutes")
                        label = f"{slot} ({minutes} min)" if minutes else slot
                        if len(runs) > 1:
                            label = f"{run.name}: {label}"
                        xs, ys = windows.setdefault(label, ([], []))
                        xs.append(datetime.fromtimestamp(at, tz=timezone.utc))
                        ys.append(float(window["used_percent"]))
            for label, (xs, ys) in windows.items():
                dash = "solid" if "primary" in label else "dot"
                fig.add_scatter(x=xs, y=ys, name=label, mode="lines+markers", line={"color": RUN_COLOURS[i], "dash": dash})
                traces += 1
        if not traces:
            return (
                '<div class="chart empty"><h3>Rate-limit windows over time</h3><p>No turn reported a '
                "rate-limit snapshot (the provider sent no <code>x-codex-*</code> headers).</p></div>"
            )
        fig.update_layout(xaxis_title="time (UTC)", yaxis_title="window used (%)", yaxis_range=[0, 105])
        return self.html(fig, "Rate-limit windows over time")


# -- the page --------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub { color: #666; margin-bottom: 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.chart { border: 1px solid #eee; border-radius: 6px; min-height: 340px; }
.chart.empty { padding: 10px 14px; color: #666; min-height: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[data-dir="asc"]::after { content: " ▲"; } th[data-dir="desc"]::after { content: " ▼"; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.badge.missing { background: #999; }
.err { color: #8e0000; max-width: 420px; overflow-wrap: anywhere; }
details { margin: 6px 0; } summary { cursor: pointer; }
pre { background: #f8f8f8; padding: 8px; overflow-x: auto; font-size: 12px; max-height: 480px; }
.add { color: #2e7d32; } .del { color: #c62828; }
"""

_SCRIPT = """
window.addEventListener("load", function () {  // each chart at its cell's width
  document.querySelectorAll(".js-plotly-plot").forEach(function (p) { Plotly.Plots.resize(p); });
});
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.dataset.dir === "asc" ? "desc" : "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      function key(row) {
        var cell = row.cells[col], v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
        var n = parseFloat(v);
        return v !== "" && !isNaN(n) && isFinite(v) ? [0, n] : [v === "" ? 2 : 1, v];
      }
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x[0] !== y[0]) return x[0] - y[0];
        var c = x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    });
  });
});
"""


def _cards(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card">{_e(k)}<b>{v}</b></div>' for k, v in items) + "</div>"


def _diff_html(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else "del" if line.startswith("-") and not line.startswith("---") else ""
        out.append(f'<span class="{cls}">{_e(line)}</span>' if cls else _e(line))
    return "\n".join(out)


def _diffs_section(run: Results, tag: str, report_dir: Path) -> tuple[str, dict[str, str]]:
    """The run's diffs as collapsible blocks, and each task's anchor (id -> ``#diff-...``)."""
    blocks, anchors = [], {}
    for n, r in enumerate(run.records):
        if not r.diff:
            continue
        anchor = f"diff-{tag}{n}"
        anchors[r.id] = anchor
        full = ""
        if r.diff_path:
            target = Path(r.diff_path)
            if not target.is_absolute():
                target = run.path.parent / target
            href = os.path.relpath(target, report_dir)
            note = " (cut short here)" if r.diff_truncated else ""
            full = f'<p>The whole diff{note}: <a href="{_e(href)}">{_e(target.name)}</a></p>'
        added, removed = _diff_lines(r)
        blocks.append(
            f'<details id="{anchor}"><summary>{_e(r.id)} <span class="add">+{added}</span> '
            f'<span class="del">-{removed}</span></summary>{full}<pre>{_diff_html(r.diff)}</pre></details>'
        )
    if not blocks:
        return "", anchors
    return f"<h2>Diffs: {_e(run.name)}</h2>" + "".join(blocks), anchors


def _task_table(run: Results, anchors: dict[str, str]) -> str:
    head = ["task", "outcome", "check", "total (s)", "first token (s)", "queue (s)", "turns", "input tok", "cached", "output tok", "diff", "error"]
    rows = []
    for r in run.records:
        timings, usage = r.timings, r.usage
        anchor = anchors.get(r.id)
        name = f'<a href="#{anchor}">{_e(r.id)}</a>' if anchor else _e(r.id)
        exit_code = None if r.check is None else r.check.exit_code
        added, removed = _diff_lines(r)
        diff = f'<a href="#{anchor}"><span class="add">+{added}</span> <span class="del">-{removed}</span></a>' if anchor else ""
        rows.append(
            "<tr>" + _cell(name, r.id) + _cell(_outcome_badge(r.outcome), r.outcome)
            + _cell(_e("" if exit_code is None else str(exit_code)), exit_code, "n")
            + _cell(_num(_total_s(r)), _total_s(r), "n")
            + _cell(_num(_first_token_s(r), digits=3), _first_token_s(r), "n")
            + _cell(_num(timings.queue_wait_s, digits=3), timings.queue_wait_s, "n")
            + _cell(str(len(r.turns)), len(r.turns), "n")
            + "".join(_cell(_num(n), n, "n") for n in (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens))
            + _cell(diff, added + removed, "n")
            + _cell(_e(r.error or ""), None, "err") + "</tr>"
        )  # fmt: skip
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table class="sortable" id="tasks"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _one(run: Results, charts: _Charts, report_dir: Path) -> tuple[str, str]:
    s = _stats(run)
    cards = _cards([
        ("tasks", f"{s.tasks:,}"), ("pass rate", _pct(s.pass_rate)),
        *[(o, f"{s.outcomes.get(o, 0):,}") for o in OUTCOMES],
        ("median total", _num(s.median_s, " s")), ("p90 total", _num(s.p90_s, " s")),
        ("median first token", _num(s.median_first_token_s, " s", 3)), ("tokens", f"{s.tokens:,}"),
    ])  # fmt: skip
    diffs, anchors = _diffs_section(run, "", report_dir)
    body = (
        cards + "<h2>Charts</h2>" + _charts(charts, [run]) + f"<h2>Tasks ({s.tasks:,})</h2>" + _task_table(run, anchors) + diffs
    )
    return f"Batch report: {run.name}", body


def _charts(charts: _Charts, runs: Sequence[Results]) -> str:
    return (
        '<div class="charts">'
        + charts.outcomes(runs)
        + charts.histogram(runs, _total_s, "Task duration", "seconds, setup to check")
        + charts.histogram(runs, lambda r: _tokens(r) or None, "Tokens per task", "input + output tokens")
        + charts.histogram(runs, _first_token_s, "Time to first token", "seconds, first turn")
        + charts.rate_limits(runs)
        + "</div>"
    )


def _two(a: Results, b: Results, charts: _Charts, report_dir: Path) -> tuple[str, str]:
    sa, sb = _stats(a), _stats(b)
    rows = [
        ("tasks", f"{sa.tasks:,}", f"{sb.tasks:,}", _signed(sb.tasks - sa.tasks)),
        ("pass rate", _pct(sa.pass_rate), _pct(sb.pass_rate),
         "–" if sa.pass_rate is None or sb.pass_rate is None else f"{100 * (sb.pass_rate - sa.pass_rate):+.1f} pts"),
        *[(o, f"{sa.outcomes.get(o, 0):,}", f"{sb.outcomes.get(o, 0):,}", _signed(sb.outcomes.get(o, 0) - sa.outcomes.get(o, 0)))
          for o in OUTCOMES],
        ("median total (s)", _num(sa.median_s), _num(sb.median_s),
         _signed(None if sa.median_s is None or sb.median_s is None else sb.median_s - sa.median_s)),
        ("median first token (s)", _num(sa.median_first_token_s, digits=3), _num(sb.median_first_token_s, digits=3),
         _signed(None if sa.median_first_token_s is None or sb.median_first_token_s is None
                 else sb.median_first_token_s - sa.median_first_token_s, digits=3)),
        ("tokens", f"{sa.tokens:,}", f"{sb.tokens:,}", _signed(sb.tokens - sa.tokens)),
        ("versions", _e("; ".join(sa.versions)), _e("; ".join(sb.versions)), ""),
    ]  # fmt: skip
    summary = (
        f'<table id="summary"><thead><tr><th></th><th>A: {_e(a.name)}</th><th>B: {_e(b.name)}</th><th>B - A</th></tr></thead><tbody>'
        + "".join(f"<tr><td>{_e(k)}</td><td>{x}</td><td>{y}</td><td>{d}</td></tr>" for k, x, y, d in rows)
        + "</tbody></table>"
    )
    ra, rb = a.by_id(), b.by_id()
    ids = list(ra) + [i for i in rb if i not in ra]
    fixed = [i for i in ids if not _passed(ra.get(i)) and _passed(rb.get(i)) and i in ra]
    broken = [i for i in ids if _passed(ra.get(i)) and not _passed(rb.get(i)) and i in rb]
    diffs_a, anchors_a = _diffs_section(a, "a", report_dir)
    diffs_b, anchors_b = _diffs_section(b, "b", report_dir)

    def link(i: str, anchors: dict[str, str], record: Record | None) -> str:
        badge = _outcome_badge(None if record is None else record.outcome)
        return f'<a href="#{anchors[i]}">{badge}</a>' if i in anchors else badge

    def flips(title: str, which: list[str], table_id: str) -> str:
        if not which:
            return f'<h3>{_e(title)}: none</h3>'
        items = "".join(f"<li>{_e(i)}: {link(i, anchors_a, ra.get(i))} → {link(i, anchors_b, rb.get(i))}</li>" for i in which)
        return f'<h3>{_e(title)}: {len(which)}</h3><ul id="{table_id}">{items}</ul>'

    rows_html = []
    for i in ids:
        x, y = ra.get(i), rb.get(i)
        dt = None if x is None or y is None else _total_s(y) - _total_s(x)
        dtok = None if x is None or y is None else _tokens(y) - _tokens(x)
        flipped = "fixed" if i in fixed else "broken" if i in broken else ""
        rows_html.append(
            "<tr>" + _cell(_e(i), i) + _cell(link(i, anchors_a, x), None if x is None else x.outcome)
            + _cell(link(i, anchors_b, y), None if y is None else y.outcome) + _cell(flipped, flipped)
            + _cell(_num(None if x is None else _total_s(x)), None if x is None else _total_s(x), "n")
            + _cell(_num(None if y is None else _total_s(y)), None if y is None else _total_s(y), "n")
            + _cell(_signed(dt), dt, "n") + _cell(_signed(dtok), dtok, "n") + "</tr>"
        )  # fmt: skip
    head = ["task", "A", "B", "flipped", "A total (s)", "B total (s)", "Δ total (s)", "Δ tokens"]
    table = (
        '<table class="sortable" id="tasks"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead>"
        f'<tbody>{"".join(rows_html)}</tbody></table>'
    )
    only = [f"{sum(1 for i in ra if i not in rb)} only in A", f"{sum(1 for i in rb if i not in ra)} only in B"]
    body = (
        summary + "<h2>Flipped</h2>" + flips("Passed in B, not in A", fixed, "fixed") + flips("Passed in A, not in B", broken, "broken")
        + f'<p class="sub">{", ".join(only)}.</p>'
        + "<h2>Charts</h2>" + _charts(charts, [a, b]) + f"<h2>Tasks ({len(ids):,})</h2>" + table + diffs_a + diffs_b
    )  # fmt: skip
    return f"Batch comparison: {a.name} (A) vs {b.name} (B)", body


def write_report(results: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Writes one self-contained HTML page for a results file (outcome counts, pass rate,
    distributions of duration, tokens and time to first token, rate-limit windows over time, a
    sortable table of every task, each task's diff), or for two (side by side: which tasks
    flipped between passed and not, and each figure's change, B - A).

    The page needs no network: Plotly's JavaScript is inlined (about 4.7 MB). Links to the whole
    diffs are relative to the page.

    Raises:
        ValueError: Not one or two results files.
        FileNotFoundError: A results file does not exist.
        ImportError: Plotly is not installed (``pip install 'codexrs[report]'``).
    """
    if len(results) not in (1, 2):
        raise ValueError(f"a report takes one or two results files, not {len(results)}")
    runs = [load(path) for path in results]
    target = Path(out)
    report_dir = target.resolve().parent
    charts = _Charts()
    title, body = _one(runs[0], charts, report_dir) if len(runs) == 1 else _two(runs[0], runs[1], charts, report_dir)
    from plotly.offline import get_plotlyjs

    skipped = [f"{run.name}: {len(run.bad_lines)} line(s) that are not results (lines {run.bad_lines[:10]})" for run in runs if run.bad_lines]
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = f"Made {made} by codexrs report from {', '.join(_e(str(Path(p))) for p in results)}."
    if skipped:
        sub += " Skipped " + _e("; ".join(skipped)) + "."
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        f'<h1>{_e(title)}</h1><p class="sub">{sub}</p>{body}<script>{_SCRIPT}</script></body></html>'
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
