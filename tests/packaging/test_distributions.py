"""The three distributions build (sdist, then the wheel from it) with setuptools ≥ 77, offline.

Each carries the Apache-2.0 licence as a PEP 639 licence expression and the licence text, and
the engine's wheel holds the data files the engine reads at run time.
"""

from __future__ import annotations

from email.message import Message
from email.parser import Parser
from importlib.metadata import version
from pathlib import Path
import tarfile
import tomllib
import zipfile

import pytest

from tests.packaging.conftest import PROJECTS, REPO


def _version(project: Path) -> str:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode())


def test_the_build_backend_is_setuptools_77_or_later() -> None:
    for project in PROJECTS.values():
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert "setuptools>=77" in data["build-system"]["requires"]
        assert data["project"]["license"] == "Apache-2.0"
    major = int(version("setuptools").split(".")[0])
    assert major >= 77  # the backend these builds ran with


@pytest.mark.parametrize("name", PROJECTS)
def test_each_distribution_builds_with_the_licence(dist: Path, name: str) -> None:
    stem = name.replace("-", "_")
    release = _version(PROJECTS[name])
    wheel = dist / f"{stem}-{release}-py3-none-any.whl"
    sdist = dist / f"{stem}-{release}.tar.gz"
    assert wheel.is_file(), sorted(p.name for p in dist.iterdir())
    assert sdist.is_file()

    metadata = _metadata(wheel)
    assert metadata["Name"] == name
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert tuple(int(n) for n in metadata["Metadata-Version"].split(".")) >= (2, 4)
    licence = (REPO / "LICENSE").read_bytes()
    assert b"Apache License" in licence
    assert b"Version 2.0, January 2004" in licence
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{stem}-{release}.dist-info/licenses/LICENSE") == licence
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"{stem}-{release}/LICENSE")
        assert member is not None
        assert member.read() == licence


def test_the_protocol_is_pure_python_without_dependencies(dist: Path) -> None:
    wheel = dist / f"vigil_protocol-{_version(PROJECTS['vigil-protocol'])}-py3-none-any.whl"
    assert _metadata(wheel).get_all("Requires-Dist") is None
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "vigil_protocol/py.typed" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]


def test_the_engine_wheel_holds_its_data_files_and_command(dist: Path) -> None:
    wheel = dist / f"vigil_analytics-{_version(REPO)}-py3-none-any.whl"
    requires = _metadata(wheel).get_all("Requires-Dist") or []
    assert f"vigil-protocol=={_version(REPO / 'protocol')}" in requires
    assert any(r.startswith("zeroconf") for r in requires)  # the server announces itself
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        # A symlink in the repository: the wheel (built from the sdist) must hold the file.
        registry = archive.read("vigil_core/inference/models.yaml")
        entry_points = archive.read(f"vigil_analytics-{_version(REPO)}.dist-info/entry_points.txt")
    assert registry == (REPO / "models" / "registry.yaml").read_bytes()
    assert "vigil_core/py.typed" in names
    assert any(n.startswith("vigil_core/compliance/templates/") for n in names)
    assert not any(n.startswith(("tests/", "custom_components/", "vigil_tools/")) for n in names)
    assert b"vigil-analytics = vigil_core.cli:main" in entry_points


def test_the_tools_are_a_distribution_of_their_own_beside_the_engine(dist: Path) -> None:
    """The demo, benches and evaluations stay out of the engine a server (or the image) installs."""
    release = _version(PROJECTS["vigil-tools"])
    wheel = dist / f"vigil_tools-{release}-py3-none-any.whl"
    assert _metadata(wheel).get_all("Requires-Dist") == [f"vigil-analytics=={_version(REPO)}"]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"vigil_tools-{release}.dist-info/entry_points.txt")
    assert {"vigil_tools/bench.py", "vigil_tools/demo.py", "vigil_tools/eval/anpr.py"} <= names
    assert not any(n.startswith("vigil_core/") for n in names)
    assert b"[vigil_analytics.commands]" in entry_points


def test_the_protocol_and_tools_folders_carry_the_same_licence_text() -> None:
    # setuptools takes licence files from the project's own folder only: each keeps a copy.
    for folder in ("protocol", "tools"):
        assert (REPO / folder / "LICENSE").read_bytes() == (REPO / "LICENSE").read_bytes()
