"""Fixtures for the packaging tests: both distributions built once per session, offline."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = {
    "vigil-protocol": REPO / "protocol",
    "vigil-analytics": REPO,
    "vigil-tools": REPO / "tools",
}


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, then the wheel from it, of every distribution (no build isolation)."""
    pytest.importorskip("build", reason="the `build` package is not in this environment")
    out = tmp_path_factory.mktemp("dist")
    for project in PROJECTS.values():
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out
