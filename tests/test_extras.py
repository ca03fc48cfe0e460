"""A missing optional dependency (an extra) is one line naming the ``pip install`` that adds it:
no traceback, exit 2 on the command line, an ``ImportError`` in Python.

The child processes hide the extra's package the way an environment without it would (an
import finder that finds no such module), so the commands meet a real ``ModuleNotFoundError``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from codexrs._extras import MissingExtraError, require

#: Runs ``codexrs.cli.main(argv)`` (or the code after ``--``) with the packages named first hidden.
HIDE = """
import sys
from importlib.machinery import PathFinder
hidden = set(sys.argv[1].split(","))

class Hide(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide)
if sys.argv[2] == "--":
    exec(sys.argv[3])
else:
    from codexrs.cli import main
    sys.exit(main(sys.argv[2:]))
"""


def without(packages: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES", "RAY_ADDRESS")}
    command = [sys.executable, "-c", HIDE, packages, *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def test_codexrs_report_without_plotly(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text("")
    done = without("plotly", "report", str(tmp_path / "results.jsonl"), "-o", str(tmp_path / "report.html"))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "codexrs report needs Plotly: pip install 'codexrs[report]'\n")
    assert not (tmp_path / "report.html").exists()


def test_codexrs_batch_ray_without_ray(tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    done = without("ray", "batch", str(tmp_path / "tasks.jsonl"), "--out", str(tmp_path / "results.jsonl"), "--ray", "local")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "codexrs batch --ray needs Ray: pip install 'codexrs[ray]'\n")
    assert not (tmp_path / "results.jsonl").exists()


def test_codexrs_batch_ray_with_no_cluster_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    done = without("nothing", "batch", str(tmp_path / "tasks.jsonl"), "--out", str(tmp_path / "results.jsonl"), "--ray", "auto")
    assert (done.returncode, done.stderr) == (2, (
        "no running Ray cluster at --ray auto: start one (`ray start --head`, then --ray auto), "
        "give a cluster's address (--ray ray://HOST:10001), or use --ray local to start one here\n"
    )), done.stdout + done.stderr  # fmt: skip
    assert "Traceback" not in done.stdout


def test_otel_without_opentelemetry_is_an_import_error_naming_the_extra() -> None:
    code = (
        "import codexrs.otel\n"
        "try:\n"
        "    codexrs.otel.instrument(object())\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.extra, exc, sep='|')\n"
    )
    done = without("opentelemetry", "--", code)
    assert (done.returncode, done.stdout, done.stderr) == (0, "MissingExtraError|otel|codexrs.otel needs OpenTelemetry: pip install 'codexrs[otel]'\n", "")


def test_a_library_whose_own_import_fails_is_named_with_the_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "codexrs_broken_extra.py").write_text("import codexrs_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError) as info:
        require("codexrs_broken_extra", feature="codexrs thing", library="Broken", extra="thing")
    assert str(info.value) == (
        "codexrs thing needs Broken: pip install 'codexrs[thing]' "
        "(importing codexrs_broken_extra failed: No module named 'codexrs_missing_dependency')"
    )
    again = pickle.loads(pickle.dumps(info.value))
    assert (type(again), str(again), again.extra) == (MissingExtraError, str(info.value), "thing")
