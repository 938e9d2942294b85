"""`vigil-analytics serve` and `token` as a user runs them: a real process, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import json
from pathlib import Path
import signal
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
import yaml

from custom_components.vigil.client import AuthRefused, VigilClient
from tests.support.shared import MODELS_DIR, media
import vigil_protocol as vp

COMMAND = [sys.executable, "-m", "vigil_core.cli"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    # Generous: the command imports the engine, which took over 60 s with four test workers
    # and other jobs sharing two cores.
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


class Served:
    """A `vigil-analytics serve` process and where it listens."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "serve", "--port", "0", "--no-zeroconf", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"serve exited: {self.process.communicate(timeout=10)[1]}")
        self.listening: dict[str, Any] = json.loads(line)
        self.port = int(self.listening["port"])
        self.token = Path(self.listening["token_file"]).read_text().strip()

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _out, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    running: list[Served] = []
    yield running
    for server in running:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)


async def test_serve_answers_and_stops_cleanly(
    tmp_path: Path, served: list[Served], socket_enabled: None
) -> None:
    server = Served("--data", str(tmp_path / "data"), "--models-dir", str(MODELS_DIR))
    served.append(server)
    assert server.listening["event"] == "listening"
    token = _run("token", "--data", str(tmp_path / "data"))
    assert token.stdout.strip() == server.token
    async with aiohttp.ClientSession() as session:
        client = VigilClient(session, "127.0.0.1", server.port, server.token, client_name="t")
        hello = await client.connect()
        assert hello.server_id == server.listening["server_id"]
        await client.close()
        wrong = VigilClient(session, "127.0.0.1", server.port, "nope", client_name="t")
        with pytest.raises(AuthRefused):
            await wrong.connect()
    code, stderr = server.stop()
    assert code == 0
    assert server.token not in stderr
    assert "Refused a client" in stderr


async def test_a_standalone_configuration_runs_without_any_client(
    tmp_path: Path, served: list[Served], socket_enabled: None
) -> None:
    config = tmp_path / "vigil.yaml"
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    config.write_text(
        yaml.safe_dump(
            {
                "cameras": [
                    {
                        "id": "vtest",
                        "source": {"url": str(media("vtest.avi")), "realtime": True},
                        "zones": [{"id": "all", "polygon": whole}],
                    }
                ]
            }
        )
    )
    server = Served(
        "--data", str(tmp_path / "data"), "--models-dir", str(MODELS_DIR), "--config", str(config)
    )
    served.append(server)
    async with aiohttp.ClientSession() as session:
        client = VigilClient(session, "127.0.0.1", server.port, server.token, client_name="t")
        await client.connect()
        found = asyncio.Event()

        def on_push(push: vp.StatePush | vp.EventPush) -> None:
            state = push.update.state if isinstance(push, vp.StatePush) else None
            if isinstance(state, vp.ZoneState) and state.occupied:
                found.set()

        client.on_push = on_push
        states = await client.subscribe()
        if any(isinstance(u.state, vp.ZoneState) and u.state.occupied for u in states):
            found.set()
        async with asyncio.timeout(90):
            await found.wait()
        await client.close()
    assert server.stop()[0] == 0


def test_a_wrong_standalone_configuration_stops_serve_with_every_error(tmp_path: Path) -> None:
    """`serve --config` with a file that does not validate exits as `run` does, not empty.

    It used to log one line about "resuming" and listen with no camera; the saved
    configuration of the data folder was not run either.
    """
    config = tmp_path / "vigil.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cameras": [
                    {
                        "id": "vtest",
                        "source": str(media("vtest.avi")),
                        "zones": [
                            {"id": "two", "polygon": [[0.1, 0.1], [0.5, 0.5]]},
                            {"id": "all", "polygon": [[0, 0], [1, 0], [1, 1]], "inertai": 3},
                        ],
                    }
                ]
            }
        )
    )
    result = _run(
        "serve", "--data", str(tmp_path / "data"), "--port", "0", "--no-zeroconf",
        "--models-dir", str(MODELS_DIR), "--config", str(config),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "listening" not in result.stdout
    assert "invalid config, 2 errors:" in result.stderr
    assert "cameras.0.zones.0.polygon" in result.stderr
    assert "cameras.0.zones.1.inertai" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_detector_stops_serve(tmp_path: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "detector": {"model": "yolox_nanoo"},
                "cameras": [{"id": "vtest", "source": str(media("vtest.avi"))}],
            }
        )
    )
    result = _run(
        "serve", "--data", str(tmp_path / "data"), "--port", "0", "--no-zeroconf",
        "--models-dir", str(MODELS_DIR), "--config", str(config),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "detector.model: unknown model 'yolox_nanoo' (detectors: " in result.stderr
    assert "yolox_nano" in result.stderr.split("detectors: ", 1)[1]


def test_no_token_is_refused_beyond_loopback(tmp_path: Path) -> None:
    result = _run(
        "serve", "--data", str(tmp_path), "--host", "0.0.0.0", "--port", "0", "--no-auth",
        "--no-zeroconf",
    )  # fmt: skip
    assert result.returncode != 0
    assert "only a loopback address may run with --no-auth" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    result = _run("serve", "--data", str(blocker), "--port", "0", "--no-zeroconf")
    assert result.returncode != 0
    assert "is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_token_can_be_rotated(tmp_path: Path) -> None:
    first = _run("token", "--data", str(tmp_path)).stdout.strip()
    again = _run("token", "--data", str(tmp_path)).stdout.strip()
    rotated = _run("token", "--data", str(tmp_path), "--rotate").stdout.strip()
    assert first == again != rotated
    assert len(rotated) >= 40
    assert (tmp_path / "token").stat().st_mode & 0o077 == 0
