"""Fixtures for the packaging tests: both distributions built once per session, offline."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest

from tests.support.workers import locked, run_folder

REPO = Path(__file__).resolve().parents[2]
PROJECTS = {
    "vigil-protocol": REPO / "protocol",
    "vigil-analytics": REPO,
    "vigil-tools": REPO / "tools",
}


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, then the wheel from it, of every distribution (no build isolation).

    Once per run: the xdist workers share the folder (tests/support/workers.py), and the
    first one to need it builds while the others wait.
    """
    pytest.importorskip("build", reason="the `build` package is not in this environment")
    out = run_folder(tmp_path_factory, "dist")
    with locked(out):
        if not (out / ".built").exists():
            for project in PROJECTS.values():
                result = subprocess.run(
                    [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                     str(project)],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )  # fmt: skip
                assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            (out / ".built").touch()
    return out
