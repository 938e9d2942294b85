"""What a release publishes agrees with itself: versions, image names, the workflow, the docs."""

from __future__ import annotations

from pathlib import Path
import re
import tomllib
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/vigil-project/vigil"
SCALING_SERVERS = ("vigil-1", "vigil-2", "vigil-3")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _version(pyproject: Path) -> str:
    return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])


def test_every_released_thing_has_one_version() -> None:
    version = _version(REPO / "pyproject.toml")
    assert _version(REPO / "protocol" / "pyproject.toml") == version
    assert _yaml(REPO / "addon" / "vigil" / "config.yaml")["version"] == version
    compose = _yaml(REPO / "examples" / "compose" / "compose.yaml")
    assert compose["services"]["vigil"]["image"] == f"{IMAGE}:{version}"
    scaling = _yaml(REPO / "examples" / "compose" / "scaling.yaml")
    for name in SCALING_SERVERS:
        assert scaling["services"][name]["image"] == f"{IMAGE}:{version}", name
    engine = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"vigil-protocol=={version}" in engine["project"]["dependencies"]


def test_the_compose_example_runs_the_server_beside_mosquitto() -> None:
    compose = _yaml(REPO / "examples" / "compose" / "compose.yaml")
    vigil, mosquitto = compose["services"]["vigil"], compose["services"]["mosquitto"]
    assert "8765:8765" in vigil["ports"]
    assert "vigil-data:/data" in vigil["volumes"]
    assert "vigil-data" in compose["volumes"]
    assert "mosquitto" in vigil["depends_on"]
    assert mosquitto["image"].split("/")[-1].startswith("eclipse-mosquitto:")
    assert "./mosquitto:/mosquitto/config" in mosquitto["volumes"]
    conf = (REPO / "examples" / "compose" / "mosquitto" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert "password_file /mosquitto/config/passwd" in conf


def test_the_scaling_example_runs_three_servers_a_broker_and_an_inference_server() -> None:
    """docs/scaling.md's compose file: each server its port, data and the shared peers."""
    folder = REPO / "examples" / "compose"
    compose = _yaml(folder / "scaling.yaml")
    services = compose["services"]
    assert set(services) == {*SCALING_SERVERS, "mosquitto", "triton"}
    ports, volumes, clients = set(), set(), set()
    for name in SCALING_SERVERS:
        vigil = services[name]
        (port,) = vigil["ports"]
        assert port.endswith(":8765"), name
        ports.add(port.split(":")[0])
        (volume,) = vigil["volumes"]
        assert volume.endswith(":/data"), name
        volumes.add(volume.split(":")[0])
        assert {"mosquitto", "triton"} <= set(vigil["depends_on"]), name
        env = vigil["environment"]
        assert env["VIGIL_KSERVE_URL"] == "http://triton:8000", name
        assert env["VIGIL_MQTT_HOST"] == "mosquitto", name
        assert env["VIGIL_MQTT_PASSWORD_FILE"] == "/run/secrets/mqtt_password", name
        assert "mqtt_password" in vigil["secrets"], name
        clients.add(env["VIGIL_MQTT_CLIENT_ID"])
        assert vigil["cpus"] > 0, name
    assert len(ports) == len(volumes) == len(clients) == len(SCALING_SERVERS)
    assert volumes <= set(compose["volumes"])
    assert "mqtt_password" in compose["secrets"]
    mosquitto = services["mosquitto"]
    assert mosquitto["image"].split("/")[-1].startswith("eclipse-mosquitto:")
    assert "./mosquitto:/mosquitto/config" in mosquitto["volumes"]
    triton = services["triton"]
    assert triton["image"].split("/")[-1].startswith("tritonserver:")
    assert "8000" in triton["expose"]
    assert "./triton:/models:ro" in triton["volumes"]
    assert "--model-repository=/models" in triton["command"]
    # The model the servers ask for is in Triton's repository, on the onnxruntime backend.
    model = services["vigil-1"]["environment"]["VIGIL_KSERVE_MODEL"]
    config = (folder / "triton" / model / "config.pbtxt").read_text(encoding="utf-8")
    assert f'name: "{model}"' in config
    assert 'backend: "onnxruntime"' in config
    assert "free_input_size" in config  # how to make the file Vigil's aspect inputs need
    scaling = (REPO / "docs" / "scaling.md").read_text(encoding="utf-8")
    assert "examples/compose/scaling.yaml" in scaling


def test_the_release_workflow_publishes_both_distributions_and_the_image() -> None:
    workflow = _yaml(REPO / ".github" / "workflows" / "release.yml")
    # PyYAML reads the bare key `on` as True.
    trigger = workflow.get("on", workflow.get(True))
    assert trigger == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {}
    assert workflow["env"]["IMAGE"] == IMAGE
    jobs = workflow["jobs"]
    build = "\n".join(step.get("run", "") for step in jobs["distributions"]["steps"])
    assert "python -m build --outdir dist protocol" in build
    assert "python -m build --outdir dist ." in build
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}  # trusted publishing
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    uses = [step.get("uses", "") for step in jobs["pypi"]["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    push = next(s for s in jobs["image"]["steps"] if s.get("uses", "").startswith("docker/build-"))
    assert push["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert push["with"]["push"] is True
    assert jobs["image"]["permissions"]["packages"] == "write"


def test_the_readme_keeps_its_two_commands_and_says_how_to_run_the_server() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert lines[0].rstrip() == "scripts/setup && .venv/bin/vigil-analytics demo"
    assert lines[1] == "scripts/setup && .venv/bin/python -m pytest -n 4"
    section = readme.split("## Run the Vigil server", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "vigil-analytics serve",
        "docker run",
        "examples/compose/compose.yaml",
        "https://github.com/vigil-project/vigil",
        "_vigil._tcp.local.",
        "vigil-analytics token",
        "docs/server.md",
    ):
        assert needle in section, needle
    assert (REPO / "docs" / "server.md").is_file()
    for link in re.findall(r"\]\(((?:docs|examples|addon)/[^)#]+)", readme):
        assert (REPO / link).exists(), link
