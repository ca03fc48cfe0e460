"""In-tree PEP 517 backend: builds the codexrs helper executable, then hands over to maturin.

maturin puts one Rust artifact in a PyO3 wheel (maturin issue 368); codexrs also needs a small
executable that codex-core re-executes for apply_patch and the Linux sandbox. This backend runs
``cargo build -p codexrs-helper`` with the same profile as the extension, copies the binary to
``python/codexrs/_bin/``, and then delegates every hook to maturin, which packs that directory
with the package. One cargo invocation tree, one target dir, one profile: the helper reuses
every crate the extension already compiled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import maturin
from maturin import get_requires_for_build_sdist, get_requires_for_build_wheel, build_sdist  # noqa: F401

try:  # optional hooks, re-exported when this maturin has them
    from maturin import get_requires_for_build_editable, prepare_metadata_for_build_wheel  # noqa: F401
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "dev"  # keep in step with [tool.maturin] profile in pyproject.toml


def _target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else ROOT / "target"


def build_helper(*, strip: bool = False) -> Path:
    """Builds the helper and copies it into the package; returns its path there.

    Linked, like the extension, for glibc 2.17 by the workspace's linker (build_backend/link-cc).

    Args:
        strip: Remove the copy's symbols (``strip --strip-all``), for a wheel to hand around.
    """
    # The workspace's linker (.cargo/config.toml) must be executable; an sdist does not keep
    # file modes (maturin writes every file 0644).
    linker = ROOT / "build_backend" / "link-cc"
    linker.chmod(linker.stat().st_mode | 0o111)
    subprocess.run(
        # codexrs is selected so cargo resolves the features the extension's build resolves
        # (the helper's crates are then the extension's, compiled once), but only the helper's
        # binary is built: compiling the codexrs library here, without maturin's environment
        # and crate type, would make maturin's build compile it (and pyo3) again.
        ["cargo", "build", "--profile", PROFILE, "--locked", "-p", "codexrs-helper", "-p", "codexrs",
         "--features", "codexrs/extension-module", "--bin", "codexrs-helper"],
        cwd=ROOT,
        check=True,
    )
    built = _target_dir() / ("debug" if PROFILE == "dev" else PROFILE) / "codexrs-helper"
    dest_dir = ROOT / "python" / "codexrs" / "_bin"
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / "codexrs-helper"
    shutil.copy2(built, dest)
    if strip:
        subprocess.run(["strip", "--strip-all", str(dest)], check=True)
    return dest


def build_wheel(wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None) -> str:
    build_helper()
    return str(maturin.build_wheel(wheel_directory, config_settings, metadata_directory))


def build_editable(wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None) -> str:
    build_helper()
    return str(maturin.build_editable(wheel_directory, config_settings, metadata_directory))


if __name__ == "__main__":  # scripts/wheel: `codexrs_build.py helper --strip`
    import argparse

    parser = argparse.ArgumentParser(prog="codexrs_build.py")
    parser.add_argument("command", choices=["helper"])
    parser.add_argument("--strip", action="store_true")
    args = parser.parse_args()
    print(build_helper(strip=args.strip))
