"""The integration's requirements install where Home Assistant runs: musl (Alpine) included.

Home Assistant OS and its container image are Alpine builds; onnxruntime publishes no musl
wheels, so the integration may require only the pure-Python protocol. pip resolves the requirement
for both musl platforms from the wheel built here (`--no-index`: no network, since vigil-protocol
has no dependency).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "custom_components" / "vigil" / "manifest.json"
PLATFORMS = ("musllinux_1_2_x86_64", "musllinux_1_2_aarch64")
INTEGRATION_REQUIRES = ["vigil-protocol==0.2.0"]
"""What the thin integration requires: the pure-Python protocol, nothing else."""


def _manifest_requirements() -> list[str]:
    return list(json.loads(MANIFEST.read_text(encoding="utf-8"))["requirements"])


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run pip with no configuration file and no PIP_* variable of this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture
def local_index(dist: Path) -> Path:
    """Return the folder holding the vigil-protocol wheel built here (pip finds links in it)."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this environment: cannot resolve for musllinux")
    assert (dist / "vigil_protocol-0.2.0-py3-none-any.whl").is_file()
    return dist


def _resolve(requirements: list[str], platform: str, links: Path, dest: Path) -> list[str]:
    """Return the files pip picks for these requirements on a platform (binary wheels only)."""
    result = _pip(
        "download", "--no-index", "--find-links", str(links), "--only-binary=:all:",
        "--platform", platform, "--python-version", "3.13", "--implementation", "cp",
        "--dest", str(dest), *requirements, cwd=dest,
    )  # fmt: skip
    assert result.returncode == 0, f"{requirements} on {platform}:\n{result.stderr[-3000:]}"
    return sorted(p.name for p in dest.iterdir())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_protocol_resolves_for_musl(local_index: Path, platform: str, tmp_path: Path) -> None:
    assert _resolve(INTEGRATION_REQUIRES, platform, local_index, tmp_path) == [
        "vigil_protocol-0.2.0-py3-none-any.whl"
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_integration_requires_only_what_resolves_for_musl(
    local_index: Path, platform: str, tmp_path: Path
) -> None:
    requirements = _manifest_requirements()
    assert requirements == INTEGRATION_REQUIRES
    assert _resolve(requirements, platform, local_index, tmp_path) == [
        "vigil_protocol-0.2.0-py3-none-any.whl"
    ]
