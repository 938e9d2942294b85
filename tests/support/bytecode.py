"""Compiled bytecode for the suite's processes, kept in the venv (`.venv/pycache`).

uv installs no bytecode and these machines set PYTHONDONTWRITEBYTECODE, so each process the
suite runs (the xdist workers, every `vigil-analytics`, `hass` and helper process the tests
start) compiled Home Assistant, SciPy and the engine from source again: 31 s of CPU to
collect the suite in each worker instead of 10, 7 s to start a server instead of 2.5.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import subprocess
import sys

import pytest


def keep_bytecode_in_the_venv() -> None:
    """Let this process and every process started from it write and read bytecode in the venv.

    The bytecode goes to the venv's `pycache` folder (PYTHONPYCACHEPREFIX), never into the
    repository. Outside a venv nothing changes.
    """
    if sys.prefix == sys.base_prefix:
        return
    prefix = os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(sys.prefix) / "pycache"))
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


def compile_before_the_workers(config: pytest.Config) -> None:
    """Collect once in one process before xdist starts its workers, on a venv's first run.

    Otherwise every worker compiles the same modules at once: on a fresh venv (as in CI), four
    workers took 189 s to collect the suite here (105 s of CPU), against 82 s (90 s of CPU)
    for one collection followed by the four workers reading its bytecode. A stamp in the
    bytecode folder, holding scripts/setup's own stamp of what is installed, marks it done.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("numprocesses", None):
        return
    if config.getoption("collectonly") or not sys.pycache_prefix:
        return
    stamp = Path(sys.pycache_prefix) / ".vigil-collected"
    installed = Path(sys.prefix) / ".vigil-lock-sha256"
    want = installed.read_text().strip() if installed.exists() else "-"
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    print("compiling the suite's bytecode once for the workers (a new venv)", file=sys.stderr)
    command = [
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=",
        "-p", "no:xdist", "-p", "no:cacheprovider", *config.args,
    ]  # fmt: skip
    # Only a head start: whatever this collection meets, the workers' own reports it.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            command, cwd=config.invocation_params.dir, capture_output=True, timeout=900,
            check=False,
        )  # fmt: skip
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(want)
