"""What one re-exec of the codexrs helper costs (codex-core runs it for every apply_patch and
every sandboxed command), next to ``/bin/true`` measured the same way in the same run.

    python benches/bench_helper.py
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from codexrs._core.helper import helper_path

N = 50


def time_runs(argv: list[str], cwd: str) -> float:
    samples = []
    for _ in range(N):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=False, capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    helper = helper_path()
    assert helper, "the helper is not installed (pip install . first)"
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "apply_patch"
        link.symlink_to(helper)
        patch = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch\n"
        true_ms = time_runs(["/bin/true"], tmp)
        helper_ms = time_runs([str(link), patch], tmp)
    print(f"/bin/true                 {true_ms:7.2f} ms (median of {N})")
    print(f"helper as apply_patch     {helper_ms:7.2f} ms (median of {N}, writes a.txt)")
    print(f"ratio                     {helper_ms / true_ms:7.2f}x")


if __name__ == "__main__":
    main()
