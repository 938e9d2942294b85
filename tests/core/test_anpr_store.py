"""Plate stores: keyed hashes, full-mode reads, the audit log of queries, retention purges."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
import stat

import numpy as np
import pytest

from vigil_core.anpr.store import (
    CropStore,
    JsonlAuditLog,
    MemoryAuditLog,
    PlateKeyer,
    PlateStore,
    PrivacyMode,
    QueryRefused,
    fold,
)

DAY = 86400.0
T0 = datetime(2025, 11, 20, 8, 0, tzinfo=UTC).timestamp()


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> PlateStore:
    keyer = PlateKeyer.load_or_create(tmp_path / "secret.key")
    return PlateStore(
        tmp_path / "anpr.sqlite3",
        keyer,
        JsonlAuditLog(tmp_path / "audit.jsonl", clock),
        clock=clock,
    )


def test_secret_is_created_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret.key"
    first = PlateKeyer.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PlateKeyer.load_or_create(path)
    assert first.key("AB123CD") == again.key("AB-123-CD")
    other = PlateKeyer(b"another installation's secret!!")
    assert other.key("AB123CD") != first.key("AB123CD")
    assert "AB123CD" not in first.key("AB123CD")


def test_hashes_fold_confusables_so_the_owner_of_the_plate_finds_it() -> None:
    assert fold("AB-123-CD") == fold("A8123C0") == "A8123C0"
    keyer = PlateKeyer(b"0123456789abcdef0123456789abcdef")
    assert keyer.key("AB123CD") == keyer.key("A8I23CD")
    assert keyer.key("AB123CD") != keyer.key("AB124CD")


def test_hashed_query_is_audited_before_it_is_answered(
    store: PlateStore, tmp_path: Path, clock: Clock
) -> None:
    store.add_hashed("gate", "AB123CD", T0 - 3600, "approaching")
    store.add_hashed("gate", "XY987ZW", T0 - 1800, "receding")
    database = (tmp_path / "anpr.sqlite3").read_bytes()
    assert b"AB123CD" not in database and b"XY987ZW" not in database

    clock.now = T0 + 60
    found = store.query("ab-123-cd", who="alice", reason="insurance claim 42")
    assert [(s.camera_id, s.direction, s.plate) for s in found] == [("gate", "approaching", None)]
    assert store.query("ZZ000ZZ", who="alice", reason="check") == []

    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(entries) == 2
    first = entries[0]
    assert first["who"] == "alice"
    assert first["reason"] == "insurance claim 42"
    assert first["action"] == "plate_query"
    assert first["plate_hash"] == store.keyer.key("AB123CD")
    assert datetime.fromisoformat(first["at"]) == datetime.fromtimestamp(T0 + 60, UTC)
    assert "AB123CD" not in (tmp_path / "audit.jsonl").read_text()


def test_query_needs_who_and_why(store: PlateStore) -> None:
    for who, reason in (("", "why"), ("alice", " ")):
        with pytest.raises(QueryRefused) as caught:
            store.query("AB123CD", who=who, reason=reason)
        assert caught.value.translation_key == "plate_query_refused"
        assert "AB123CD" not in str(caught.value)


def test_query_filters_by_time_and_camera(store: PlateStore) -> None:
    store.add_hashed("gate", "AB123CD", T0 - 2 * DAY, "approaching")
    store.add_hashed("yard", "AB123CD", T0 - DAY, "receding")
    store.add_read(
        "barrier", "AB123CD", T0 - 600, confidence=0.9, direction="approaching", crop_id=None
    )
    found = store.query("AB123CD", who="bob", reason="audit", since=T0 - 1.5 * DAY)
    assert [(s.camera_id, s.plate) for s in found] == [("yard", None), ("barrier", "AB123CD")]
    only = store.query("AB123CD", who="bob", reason="audit", camera_id="gate")
    assert [s.camera_id for s in only] == ["gate"]


def test_retention_purges_hashes_and_reads(store: PlateStore) -> None:
    store.add_hashed("gate", "AB123CD", T0 - 10 * DAY, "approaching")
    store.add_hashed("gate", "AB123CD", T0 - DAY, "approaching")
    store.add_read("barrier", "CD456EF", T0 - 8 * DAY, confidence=0.9, direction="", crop_id=None)
    store.add_read("barrier", "CD456EF", T0, confidence=0.9, direction="", crop_id=None)
    assert store.purge_hashed(T0 - 7 * DAY) == 1
    assert store.purge_reads(T0 - 7 * DAY) == 1
    assert store.counts() == {"passages": 0, "hashed": 1, "reads": 1, "matches": 0}


def test_a_stricter_mode_forgets_what_the_looser_one_kept(store: PlateStore) -> None:
    store.add_hashed("gate", "AB123CD", T0, "approaching")
    store.add_read("gate", "AB123CD", T0, confidence=0.9, direction="", crop_id=None)
    assert store.forget_camera("gate", PrivacyMode.HASHED) == 1
    assert store.counts()["reads"] == 0 and store.counts()["hashed"] == 1
    assert store.forget_camera("gate", PrivacyMode.WATCHLIST) == 1
    assert store.counts()["hashed"] == 0


def test_passages_are_counted_per_camera_and_day(store: PlateStore, clock: Clock) -> None:
    assert store.count_passage("gate", T0) == 1
    assert store.count_passage("gate", T0 + 60) == 2
    assert store.count_passage("yard", T0) == 1
    assert store.passages("gate") == 2
    assert store.count_passage("gate", T0 + DAY) == 1
    assert store.passages("gate", "") == 3
    assert store.purge_passages(T0 + DAY) == 2


def test_memory_audit_log_and_store_without_a_folder(clock: Clock) -> None:
    audit = MemoryAuditLog(clock)
    store = PlateStore(None, PlateKeyer(b"k" * 32), audit, clock=clock)
    store.add_hashed("gate", "AB123CD", T0, "approaching")
    assert len(store.query("AB123CD", who="carol", reason="test")) == 1
    assert audit.entries()[0]["who"] == "carol"


def test_crop_store_encodes_purges_and_forgets() -> None:
    crops = CropStore(max_items=2)
    image = np.zeros((20, 60, 3), np.uint8)
    first = crops.put(image, "gate", T0)
    second = crops.put(image, "yard", T0 + 10)
    stored = crops.get(first)
    assert stored is not None and stored.jpeg.startswith(b"\xff\xd8")
    third = crops.put(image, "gate", T0 + 20)
    assert crops.get(first) is None  # the oldest went past the bound
    assert crops.purge(T0 + 15) == 1
    assert crops.get(second) is None and crops.get(third) is not None
    assert crops.forget_camera("gate") == 1
    assert len(crops) == 0
