"""``codexrs report``: real batch results (the real codex-core, the scripted model) as one
self-contained HTML page, opened in headless chromium: it loads offline with no console error,
its charts render, its table sorts, its diffs are there; and two runs compared."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import codexrs.batch
from browser import chromium, console_errors, screenshot
from codexrs.testing import ScriptedModel, exec_command, text


def _batch(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path, name: str, passing: list[str], failing: list[str]) -> Path:
    """A real batch: ``passing`` tasks write ``done.txt`` (their turn reports rate limits),
    ``failing`` ones do nothing, one more runs past its wall-time budget."""
    tasks: list[dict[str, Any]] = []
    for i in passing:
        marker = f"<report-{name}-{i}>"
        reply = text(f"made {i}").with_rate_limits(primary_used_percent=10.0 + 5 * len(tasks), primary_window_minutes=300)
        scripted_model.route(marker, exec_command(f"echo {i} > done.txt"), reply)
        tasks.append({"id": i, "prompt": marker, "check": "test -f done.txt"})
    for i in failing:
        marker = f"<report-{name}-{i}>"
        scripted_model.route(marker, text("did nothing"))
        tasks.append({"id": i, "prompt": marker, "check": "test -f done.txt"})
    scripted_model.route(f"<report-{name}-slow>", text("late").delayed(6.0))
    tasks.append({"id": "slow", "prompt": f"<report-{name}-slow>", "budget": {"wall_s": 0.5}})
    tasks_file, out = tmp_path / f"{name}-tasks.jsonl", tmp_path / f"{name}.jsonl"
    tasks_file.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    codexrs.batch.run(tasks_file, out, concurrency=4, codex_home=codex_home, config=scripted_model.config())
    return out


def _report(tmp_path: Path, *results: Path) -> Path:
    page = tmp_path / "pages" / "report.html"
    done = subprocess.run([sys.executable, "-m", "codexrs.cli", "report", *map(str, results), "-o", str(page)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return page


def _load(driver: Any, page: Path) -> None:
    driver.get(page.as_uri())
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.readyState") != "complete":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _rendered_charts(driver: Any, expected: int) -> int:
    """Plotly charts drawn: each has its SVG, at least one drawn trace (a bar, a line), and fits
    its place on the page (a chart drawn wider than its box is cut off). Waits up to 10 s for
    ``expected`` (the page lays its charts out again once it has loaded)."""
    deadline = time.monotonic() + 10
    while (drawn := _drawn(driver)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return drawn


def _drawn(driver: Any) -> int:
    return int(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(function (d) {"
            "  return d.querySelector('svg.main-svg') && d.querySelectorAll('.trace, .point, path.js-line').length > 0"
            "    && d._fullLayout.width <= d.offsetWidth + 1;"
            "}).length"
        )
    )


def _column(driver: Any, header: str) -> list[str]:
    return list(
        driver.execute_script(
            "var t = document.getElementById('tasks'), h = arguments[0];"
            "var i = Array.from(t.tHead.rows[0].cells).findIndex(function (c) { return c.textContent.trim() === h; });"
            "return Array.from(t.tBodies[0].rows).map(function (r) { var c = r.cells[i]; return c.dataset.v !== undefined ? c.dataset.v : c.textContent; });",
            header,
        )
    )


def _click_header(driver: Any, header: str) -> None:
    driver.execute_script(
        "var h = arguments[0]; Array.from(document.getElementById('tasks').tHead.rows[0].cells)"
        ".find(function (c) { return c.textContent.trim() === h; }).click();",
        header,
    )


@pytest.mark.timeout(300)
def test_the_report_renders_offline_in_chromium_with_its_charts_table_and_diffs(
    scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path
) -> None:
    results = _batch(scripted_model, codex_home, tmp_path, "one", passing=["p0", "p1", "p2"], failing=["f0"])
    page = _report(tmp_path, results)
    source = page.read_text()
    # Self-contained: no script, stylesheet or image fetched from anywhere.
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", source)
    assert "Plotly" in source and "<td" in source

    with chromium() as driver:
        _load(driver, page)
        assert _rendered_charts(driver, 5) == 5  # outcomes, duration, tokens, first token, rate limits
        assert console_errors(driver) == []
        assert sorted(_column(driver, "task")) == ["f0", "p0", "p1", "p2", "slow"]
        outcomes = dict(zip(_column(driver, "task"), _column(driver, "outcome")))
        assert outcomes == {"p0": "passed", "p1": "passed", "p2": "passed", "f0": "failed", "slow": "timeout"}
        cards = driver.execute_script("return document.querySelector('.cards').innerText")
        assert "pass rate\n60.0%" in cards

        _click_header(driver, "total (s)")  # sorts ascending, then descending
        up = [float(v) for v in _column(driver, "total (s)")]
        assert up == sorted(up)
        _click_header(driver, "total (s)")
        down = [float(v) for v in _column(driver, "total (s)")]
        assert down == sorted(up, reverse=True)
        totals = {r["id"]: r["timings"]["total_s"] for r in map(json.loads, results.read_text().splitlines())}
        assert _column(driver, "task") == sorted(totals, key=lambda i: -totals[i])  # whole rows move

        # A passing task's id links to its diff, shown on the page, with the whole file linked.
        link = driver.execute_script("return document.querySelector('#tasks a[href^=\"#diff-\"]').getAttribute('href')")
        diff = driver.execute_script("var d = document.querySelector(arguments[0]); d.open = true; return d.innerText", link)
        assert "+++ b/done.txt" in diff and "whole diff" in diff
        href = driver.execute_script("return document.querySelector(arguments[0] + ' a').getAttribute('href')", link)
        assert (page.parent / href).resolve().read_text().startswith("diff --git")

        # The rate-limit chart plots the windows the passing turns reported (10, 15, 20 %).
        ys = driver.execute_script(
            "var d = Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".find(function (p) { return p.layout.title.text === 'Rate-limit windows over time'; });"
            "return d.data.map(function (t) { return t.y; }).flat();"
        )
        assert sorted(ys) == [10.0, 15.0, 20.0]
        assert console_errors(driver) == []
        assert screenshot(driver, "report").stat().st_size > 10_000


@pytest.mark.timeout(300)
def test_two_runs_side_by_side_show_which_tasks_flipped(scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path) -> None:
    a = _batch(scripted_model, codex_home, tmp_path, "a", passing=["t0", "t1"], failing=["t2", "t3"])
    b = _batch(scripted_model, codex_home, tmp_path, "b", passing=["t0", "t2", "t4"], failing=["t1", "t3"])
    page = _report(tmp_path, a, b)
    with chromium() as driver:
        _load(driver, page)
        assert _rendered_charts(driver, 5) == 5
        fixed = driver.execute_script("return document.getElementById('fixed').innerText")
        broken = driver.execute_script("return document.getElementById('broken').innerText")
        assert fixed.startswith("t2:") and fixed.count("\n") == 0  # failed in A, passed in B
        assert broken.startswith("t1:") and broken.count("\n") == 0
        flipped = dict(zip(_column(driver, "task"), _column(driver, "flipped")))
        assert flipped == {"t0": "", "t1": "broken", "t2": "fixed", "t3": "", "slow": "", "t4": ""}
        summary = driver.execute_script("return document.getElementById('summary').innerText")
        assert re.search(r"pass rate\s+40\.0%\s+50\.0%\s+\+10\.0 pts", summary)
        assert "1 only in B" in driver.execute_script("return document.body.innerText")
        assert console_errors(driver) == []
        screenshot(driver, "report-compare")
