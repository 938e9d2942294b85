"""`serve --download`: the models a configuration needs arrive in the server's models folder.

The download goes to a real HTTP server on 127.0.0.1 serving the real model bytes from
../shared (no network): the registry entry is the real one with its URL pointed there.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
import logging
from pathlib import Path
import threading
from typing import Any

import pytest

from vigil_core.config import EngineConfig
from vigil_core.inference import loader
from vigil_core.inference.loader import file_sha256
from vigil_core.inference.registry import ModelRegistry, default_registry
from vigil_core.server import ServerSettings, VigilServer
from vigil_core.server.models import fetch_missing, needed_models

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def _config(**camera: Any) -> EngineConfig:
    return EngineConfig.model_validate(
        {"cameras": [{"id": "cam", "source": {"url": "rtsp://127.0.0.1:1/x"}, **camera}]}
    )


@pytest.fixture
def file_server(tmp_path: Path, socket_enabled: None) -> Iterator[tuple[str, Path]]:
    """Serve a folder over HTTP on 127.0.0.1; return its base URL and the folder."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def nowhere_else(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide ../shared, $VIGIL_MODEL_DIR and the user cache, as on a fresh container."""
    monkeypatch.setattr(loader, "_shared_folders", list)
    monkeypatch.delenv(loader.ENV_MODEL_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _served_registry(base_url: str, name: str) -> ModelRegistry:
    spec = default_registry().get(name)
    return ModelRegistry([dataclasses.replace(spec, url=f"{base_url}/{spec.file}")])


def test_a_configuration_names_the_models_it_loads() -> None:
    assert needed_models(_config()) == ["yolox_nano"]
    assert needed_models(EngineConfig()) == []
    # The default plate chain: PP-OCR's text detector (in the rapidocr wheel), CCT reading.
    assert needed_models(_config(anpr={"enabled": True})) == [
        "yolox_nano",
        "ppocr_v6_det_small",
        "cct_xs_v1_global",
    ]
    assert needed_models(_config(anpr={"enabled": True, "ocr": "rapidocr"})) == [
        "yolox_nano",
        "ppocr_v6_det_small",
    ]


@pytest.mark.usefixtures("nowhere_else")
def test_a_missing_model_is_downloaded_verified_once(
    file_server: tuple[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    base_url, served = file_server
    (served / "yolox_nano.onnx").symlink_to(models_dir / "yolox_nano.onnx")
    registry = _served_registry(base_url, "yolox_nano")
    folder = tmp_path / "data" / "models"

    fetched = fetch_missing(_config(), folder, registry=registry)

    assert fetched == [folder / "yolox_nano.onnx"]
    assert file_sha256(fetched[0]) == registry.get("yolox_nano").sha256
    assert fetch_missing(_config(), folder, registry=registry) == []
    assert sorted(p.name for p in folder.iterdir()) == ["yolox_nano.onnx"]


@pytest.mark.usefixtures("nowhere_else")
def test_wrong_bytes_leave_nothing_and_say_why(
    file_server: tuple[str, Path],
    tmp_path: Path,
    models_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url, served = file_server
    # Another real model's bytes under the detector's name: the sha256 check must refuse them.
    (served / "yolox_nano.onnx").symlink_to(models_dir / "picodet_s_320_coco.onnx")
    folder = tmp_path / "models"
    caplog.set_level(logging.ERROR)

    assert fetch_missing(_config(), folder, registry=_served_registry(base_url, "yolox_nano")) == []

    assert not folder.exists() or list(folder.iterdir()) == []
    assert "yolox_nano could not be downloaded" in caplog.text
    assert "sha256" in caplog.text


@pytest.mark.usefixtures("nowhere_else", "socket_enabled")
def test_an_unreachable_url_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _served_registry("http://127.0.0.1:9", "yolox_nano")
    caplog.set_level(logging.ERROR)
    assert fetch_missing(_config(), tmp_path / "models", registry=registry) == []
    assert "yolox_nano could not be downloaded" in caplog.text


def test_the_data_folder_holds_the_models_unless_told_otherwise(tmp_path: Path) -> None:
    own = VigilServer(ServerSettings(data_dir=tmp_path / "data"))
    assert own.models_dir == tmp_path / "data" / "models"
    assert own.parse({"cameras": []}).models_dir == str(tmp_path / "data" / "models")
    given = VigilServer(ServerSettings(data_dir=tmp_path / "data", models_dir=tmp_path / "m"))
    assert given.models_dir == tmp_path / "m"
    assert given.parse({"models_dir": "/elsewhere"}).models_dir == str(tmp_path / "m")
