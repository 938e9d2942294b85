"""Vigil's own files: crash-safe keys, leftovers of a crash, unusable folders refused at start."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
import time

import pytest

from tests.support.clips import make_clip
from tests.support.shared import model_file
from vigil_core.anpr.store import PlateKeyer
from vigil_core.config import EngineConfig
from vigil_core.engine import Engine
from vigil_core.errors import ModelChecksumMismatch, ModelsDirInvalid, StateDirUnwritable
from vigil_core.events.model import SourceStateEvent, VigilEvent
from vigil_core.inference.loader import resolve_model
from vigil_core.privacy.access_log import load_or_create_key
from vigil_core.store import files
from vigil_core.store.counters import CounterStore


def _access_key(path: Path) -> bytes:
    return load_or_create_key(path)


def _plate_key(path: Path) -> bytes:
    keyer = PlateKeyer.load_or_create(path)
    return keyer.key("AB123CD").encode()


KEYS = [("access_log.key", _access_key), ("anpr_secret.key", _plate_key)]


class Crash(BaseException):
    """The process dying at this point (nothing after it runs)."""


@pytest.mark.parametrize(("name", "load"), KEYS)
def test_a_crash_while_creating_a_key_leaves_no_empty_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, load: object
) -> None:
    path = tmp_path / name

    def crash(_fd: int) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", crash)
        with pytest.raises(Crash):
            load(path)  # type: ignore[operator]
    assert not path.exists()
    first = load(path)  # type: ignore[operator]
    assert load(path) == first  # type: ignore[operator]
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("name", "load"), KEYS)
def test_an_empty_key_from_an_older_crash_is_replaced_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, load: object
) -> None:
    """Older versions created the file, then wrote it: a crash between left it empty."""
    path = tmp_path / name
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="vigil_core"):
        key = load(path)  # type: ignore[operator]
    assert path.stat().st_size > 0
    assert load(path) == key  # type: ignore[operator]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "was empty" in warnings[0]


def test_two_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "anpr_secret.key"

    def make_while_another_process_wins() -> bytes:
        path.write_bytes(b"b" * 32)  # the other process, between this one's read and write
        return b"a" * 32

    assert files.load_or_create_secret(path, make_while_another_process_wins, "key") == b"b" * 32
    assert path.read_bytes() == b"b" * 32


def test_counter_temp_files_left_by_a_crash_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".counters-abc123.tmp"
    stale.write_text("{}")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / ".counters-def456.tmp"  # another writer's, in progress
    fresh.write_text("{}")
    CounterStore.in_dir(tmp_path)
    assert not stale.exists()
    assert fresh.exists()


async def test_an_unwritable_state_folder_is_refused_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for state_dir in (blocker, blocker / "state"):
        engine = Engine(EngineConfig.parse({"state_dir": str(state_dir)}))
        with pytest.raises(StateDirUnwritable, match="cannot be written") as err:
            await engine.start()
        assert err.value.translation_key == "state_dir_unwritable"
        assert str(state_dir) in str(err.value)
        await engine.stop()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
async def test_a_read_only_state_folder_is_refused_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o500)
    engine = Engine(EngineConfig.parse({"state_dir": str(folder)}))
    with pytest.raises(StateDirUnwritable, match="ermission denied"):
        await engine.start()
    await engine.stop()


def test_a_models_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("")
    with pytest.raises(ModelsDirInvalid, match="not a folder") as err:
        resolve_model("yolox_nano", models_dir=not_a_folder)
    assert err.value.translation_key == "models_dir_invalid"


async def test_a_bad_plate_model_is_found_before_any_camera_starts(tmp_path: Path) -> None:
    """The second camera reads plates with a corrupt model: nothing goes online at all."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "yolox_nano.onnx").symlink_to(model_file("yolox_nano.onnx"))
    (models / "cct_xs_v1_global.onnx").write_bytes(os.urandom(2048))
    clip = str(make_clip(tmp_path, seconds=2))
    config = EngineConfig.parse(
        {
            "models_dir": str(models),
            "state_dir": str(tmp_path / "state"),
            "cameras": [
                {"id": "first", "source": clip},
                {"id": "second", "source": clip, "anpr": {"enabled": True}},
            ],
        }
    )
    engine = Engine(config)
    events: list[VigilEvent] = []
    engine.bus.subscribe(events.append)
    with pytest.raises(ModelChecksumMismatch, match="cct_xs_v1_global"):
        await engine.start()
    await asyncio.sleep(0.2)
    assert engine.camera_ids == []
    assert [e for e in events if isinstance(e, SourceStateEvent)] == []
    await engine.stop()
