"""The container image and the Home Assistant app, built and run for real.

The image is built from a Debian trixie base made here with debootstrap (no registry is
reachable), by a Docker daemon this module starts and stops. The server in the container is
reached over its real WebSocket: Hello, Auth with the token read by `docker exec`, AuthOk; then it
analyses the demo clip from ../shared (mounted read-only), with the models from a mounted folder,
until a zone state says people are inside. The app (add-on) image is built on top of it and run
with an options file and a Supervisor discovery endpoint served by this test.

Run with `pytest --container -m container tests/packaging` (root, docker.io, debootstrap).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
from pathlib import Path
import re
import threading
import time
from typing import Any, ClassVar

import aiohttp
import pytest

from tests.support import docker as dk
from tests.support.mosquitto import free_port
from tests.support.shared import MEDIA_DIR, MODELS_DIR, SHARED_DIR
import vigil_protocol as vp

# Building the image on a fresh machine takes several minutes (pytest-timeout stops a test at
# 5 by default, fixtures included).
pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "vigil-test:packaging"
ADDON_IMAGE = "vigil-test:addon"
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


@pytest.fixture(scope="module")
def docker() -> Iterator[dk.Dockerd]:
    """Start the private Docker daemon for this module; stop it and its containers after."""
    if (reason := dk.missing()) is not None:
        pytest.skip(f"container tests: {reason}")
    if not (MODELS_DIR / "yolox_nano.onnx").exists() or not (MEDIA_DIR / "vtest.avi").exists():
        pytest.skip("the shared models and media are not on this machine")
    with dk.private_dockerd() as daemon:
        yield daemon
        dk.prune(daemon)


@pytest.fixture(scope="module")
def timings() -> Iterator[dict[str, float]]:
    """Collect how long each phase took; print them at the end (functional, never asserted)."""
    spent: dict[str, float] = {}
    yield spent
    if spent:
        print(
            "\ncontainer test timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in spent.items())
        )


@pytest.fixture(scope="module")
def image(
    docker: dk.Dockerd, timings: dict[str, float], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Build the server image from the repository on the local Debian base."""
    started = time.monotonic()
    if not dk.has_image(docker, dk.BASE_IMAGE):
        dk.make_base_image(docker, tmp_path_factory.mktemp("base"))
    timings["base image"] = time.monotonic() - started
    started = time.monotonic()
    dk.build(docker, REPO, IMAGE, [f"BASE_IMAGE={dk.BASE_IMAGE}"])
    timings["image build"] = time.monotonic() - started
    print(f"\nimage {IMAGE}: {dk.image_size_mb(docker, IMAGE):.0f} MB")
    return IMAGE


@pytest.fixture
def container(docker: dk.Dockerd) -> Iterator[list[str]]:
    """Collect the names of the containers a test starts; remove them after it."""
    names: list[str] = []
    yield names
    for name in names:
        docker.run("rm", "-f", "-v", name, check=False, timeout=120)


def _run(
    docker: dk.Dockerd,
    name: str,
    image: str,
    *command: str,
    volumes: dict[Path, str],
    env: dict[str, str],
) -> None:
    options = [f"--env={key}={value}" for key, value in env.items()]
    options += [f"--volume={host}:{inside}" for host, inside in volumes.items()]
    docker.run(
        "run", "--detach", f"--name={name}", "--network=host",
        # The image's health check runs every 30 s; every 2 s here, so the wait is short.
        "--health-interval=2s", *options, image, *command,
    )  # fmt: skip


async def _handshake(
    session: aiohttp.ClientSession, port: int, token: str
) -> tuple[aiohttp.ClientWebSocketResponse, vp.Hello]:
    ws = await session.ws_connect(f"http://127.0.0.1:{port}{vp.WS_PATH}")
    hello = vp.load_server_message((await ws.receive(timeout=30)).data)
    assert isinstance(hello, vp.Hello)
    await ws.send_str(
        vp.dumps(vp.Auth(token=token, client="tests", protocol_version=vp.PROTOCOL_VERSION))
    )
    ok = vp.load_server_message((await ws.receive(timeout=30)).data)
    assert isinstance(ok, vp.AuthOk), ok
    assert ok.server_id == hello.server_id
    return ws, hello


async def _request(ws: aiohttp.ClientWebSocketResponse, request: vp.Request) -> Any:
    await ws.send_str(vp.dumps(request))
    while True:
        message = vp.load_server_message((await ws.receive(timeout=120)).data)
        if isinstance(message, vp.ErrorReply):
            raise AssertionError(f"request {request.KIND} failed: {message.error}")
        if isinstance(message, vp.Result) and message.id == request.id:
            return message.value


def test_the_image_serves_and_analyses_the_demo_clip(
    docker: dk.Dockerd,
    image: str,
    container: list[str],
    timings: dict[str, float],
    socket_enabled: None,
) -> None:
    started = time.monotonic()
    port = free_port()
    name = f"vigil-test-server-{port}"
    container.append(name)
    _run(
        docker, name, image, "--no-zeroconf",
        volumes={SHARED_DIR: "/shared:ro", MODELS_DIR: "/models:ro"},
        env={"VIGIL_PORT": str(port), "VIGIL_DOWNLOAD_MODELS": "false"},
    )  # fmt: skip
    dk.wait_healthy(docker, name)
    timings["server healthy"] = time.monotonic() - started

    assert docker.run("exec", name, "id", "-u").stdout.strip() == "1000"  # not root
    token = docker.run("exec", name, "vigil-analytics", "token").stdout.strip()
    assert len(token) >= 40

    started = time.monotonic()
    occupied = asyncio.run(_analyse_the_demo_clip(port, token))
    assert occupied.camera_id == "demo"
    assert occupied.rule_id == "all"
    assert isinstance(occupied.state, vp.ZoneState)
    assert occupied.state.counts.get("person", 0) > 0
    timings["analysis"] = time.monotonic() - started

    listed = docker.run("exec", name, "ls", "/data").stdout.split()
    assert {"token", "server_id", "config.json", "models", "state"} <= set(listed)
    assert docker.run("exec", name, "ls", "/data/models").stdout.strip() == ""  # not downloaded


async def _analyse_the_demo_clip(port: int, token: str) -> vp.StateUpdate:
    """Handshake, apply a zone over the demo clip, return the first occupied zone state."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/api/health") as response:
            assert (await response.json())["status"] == "ok"
        ws, hello = await _handshake(session, port, token)
        try:
            assert vp.compatible(hello.protocol_version)
            assert hello.server_version == "0.2.0"  # the wheel built from this repository
            config: dict[str, vp.JsonValue] = {
                "cameras": [
                    {
                        "id": "demo",
                        "source": {"url": "/shared/media/vtest.avi", "realtime": True},
                        "zones": [{"id": "all", "polygon": WHOLE}],
                    }
                ]
            }
            applied = await _request(ws, vp.ApplyConfig(id=1, config=config))
            assert applied.started == ("demo",)
            await _request(ws, vp.Subscribe(id=2))
            return await _wait_for_zone(ws, limit_s=180)
        finally:
            await ws.close()


async def _wait_for_zone(ws: aiohttp.ClientWebSocketResponse, limit_s: float) -> vp.StateUpdate:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        message = vp.load_server_message((await ws.receive(timeout=limit_s)).data)
        if (
            isinstance(message, vp.StatePush)
            and isinstance(message.update.state, vp.ZoneState)
            and message.update.state.occupied
        ):
            return message.update
    raise AssertionError(f"no occupied zone state within {limit_s:.0f} s")


class _Supervisor(BaseHTTPRequestHandler):
    """Record what the app posts to the Supervisor's discovery endpoint."""

    posts: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.posts.append((self.path, self.headers.get("Authorization", ""), body))
        payload = json.dumps({"result": "ok", "data": {"uuid": "0" * 32}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def supervisor(socket_enabled: None) -> Iterator[tuple[int, list[tuple[str, str, dict[str, Any]]]]]:
    """Serve a discovery endpoint on 127.0.0.1 standing where the Supervisor's would be."""
    _Supervisor.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Supervisor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Supervisor.posts
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_app_reads_its_options_shows_the_token_and_announces_itself(
    docker: dk.Dockerd,
    image: str,
    container: list[str],
    timings: dict[str, float],
    supervisor: tuple[int, list[tuple[str, str, dict[str, Any]]]],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    dk.build(docker, REPO / "addon" / "vigil", ADDON_IMAGE, [f"VIGIL_IMAGE={image}"])
    data = tmp_path / "data"
    data.mkdir()
    (data / "options.json").write_text(json.dumps({"log_level": "debug", "download_models": False}))
    data.chmod(0o700)
    supervisor_port, posts = supervisor
    port = free_port()
    name = f"vigil-test-app-{port}"
    container.append(name)
    _run(
        docker, name, ADDON_IMAGE,
        volumes={data: "/data", MODELS_DIR: "/share/vigil/models:ro"},
        env={
            "VIGIL_PORT": str(port),
            "SUPERVISOR_TOKEN": "supervisor-token",
            "VIGIL_SUPERVISOR_URL": f"http://127.0.0.1:{supervisor_port}",
        },
    )  # fmt: skip
    dk.wait_healthy(docker, name)

    token = (data / "vigil" / "token").read_text().strip()
    server_id = (data / "vigil" / "server_id").read_text().strip()
    logs = docker.run("logs", name).stderr
    assert re.search(rf"^vigil-addon: +{re.escape(token)}$", logs, re.MULTILINE), logs[-3000:]
    assert " DEBUG " in logs  # the log_level option reached the server
    status = docker.run("exec", name, "cat", "/proc/1/status").stdout
    assert re.search(r"^Uid:\s+1000\s", status, re.MULTILINE)  # the server dropped root
    assert (data / "vigil").stat().st_uid == 1000

    deadline = time.monotonic() + 60
    while not posts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert posts, "the app never announced itself"
    path, authorization, body = posts[0]
    assert path == "/discovery"
    assert authorization == "Bearer supervisor-token"
    assert body["service"] == "vigil"
    assert body["config"]["port"] == port
    assert body["config"]["token"] == token
    assert body["config"]["server_id"] == server_id
    assert body["config"]["host"]
    timings["app"] = time.monotonic() - started
