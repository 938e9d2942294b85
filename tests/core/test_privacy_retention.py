"""Retention: every artefact has a default and bounds; each store is purged past its retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path

from pydantic import ValidationError
import pytest

from vigil_core.config import EngineConfig
from vigil_core.privacy.access_log import AccessAction, AccessLog, Actor
from vigil_core.privacy.retention import DirectoryStore, RetentionRegistry, RetentionSpec
from vigil_protocol.privacy import RETENTION, Artefact

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass
class MemoryStore:
    """A store of timestamped items, like the ANPR plate store or a counters history."""

    artefact: Artefact
    name: str
    items: list[datetime] = field(default_factory=list)

    def purge(self, before: datetime) -> int:
        kept = [at for at in self.items if at >= before]
        removed = len(self.items) - len(kept)
        self.items = kept
        return removed


class Broken:
    """A store whose purge fails."""

    artefact = Artefact.SNAPSHOTS
    name = "broken"

    def purge(self, before: datetime) -> int:
        raise OSError("disk gone")


def aged(days: int) -> datetime:
    return NOW - timedelta(days=days)


def test_every_artefact_has_a_default_within_its_bounds() -> None:
    assert set(RETENTION) == set(Artefact)
    spec = RetentionSpec()
    for artefact, bounds in RETENTION.items():
        assert bounds.min_days <= bounds.default_days <= bounds.max_days
        assert spec.days(artefact) == bounds.default_days
    # Images never longer than a month; the access log at least six months.
    assert RETENTION[Artefact.SNAPSHOTS].max_days <= 30
    assert RETENTION[Artefact.ACCESS_LOG].min_days >= 180
    assert EngineConfig().privacy.retention == spec


def test_user_settings_are_bounded() -> None:
    assert RetentionSpec(snapshots=3).days(Artefact.SNAPSHOTS) == 3
    with pytest.raises(ValidationError):
        RetentionSpec(snapshots=31)
    with pytest.raises(ValidationError):
        RetentionSpec(access_log=30)
    with pytest.raises(ValidationError):
        RetentionSpec(plate_reads=0)
    assert RetentionSpec().changes(RetentionSpec(events=10)) == {"events": (30, 10)}


@pytest.mark.parametrize(
    "artefact",
    [Artefact.EVENTS, Artefact.PLATE_READS, Artefact.PLATE_HASHES, Artefact.COUNTERS],
)
def test_each_store_is_purged_past_its_retention(artefact: Artefact) -> None:
    days = RetentionSpec().days(artefact)
    store = MemoryStore(artefact, artefact.value, [aged(days + 1), aged(days - 1), aged(0)])
    registry = RetentionRegistry(RetentionSpec())
    registry.register(store)
    report = registry.purge(NOW)
    assert report.removed == {artefact.value: 1}
    assert store.items == [aged(days - 1), aged(0)]


def test_user_retention_applies() -> None:
    store = MemoryStore(Artefact.PLATE_HASHES, "plates", [aged(20), aged(5)])
    registry = RetentionRegistry(RetentionSpec(plate_reads=10, plate_hashes=10))
    registry.register(store)
    assert registry.purge(NOW).total == 1
    assert store.items == [aged(5)]


def test_plate_hashes_are_kept_no_longer_than_plate_text() -> None:
    """Issue 21 point 7: hashes were kept 30 days while the text went after 7."""
    hashes, reads = RETENTION[Artefact.PLATE_HASHES], RETENTION[Artefact.PLATE_READS]
    assert hashes.default_days == reads.default_days and hashes.max_days <= reads.max_days
    assert RetentionSpec(plate_reads=20, plate_hashes=20).plate_hashes == 20
    with pytest.raises(ValidationError) as caught:
        RetentionSpec(plate_reads=7, plate_hashes=8)
    assert caught.value.errors()[0]["type"] == "plate_hashes_outlive_reads"


def _touch(path: Path, days: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg")
    stamp = aged(days).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("artefact", [Artefact.SNAPSHOTS, Artefact.CROPS, Artefact.EXPORTS])
def test_folders_are_purged_by_file_age(tmp_path: Path, artefact: Artefact) -> None:
    days = RetentionSpec().days(artefact)
    folder = tmp_path / artefact.value
    _touch(folder / "cam1" / "old.jpg", days + 1)
    _touch(folder / "cam1" / "new.jpg", days - 1)
    _touch(folder / "old.txt", days + 1)
    registry = RetentionRegistry()
    registry.register(DirectoryStore(artefact, folder, ("*.jpg",)))
    registry.register(DirectoryStore(artefact, tmp_path / "missing"))
    report = registry.purge(NOW)
    assert report.removed == {f"{artefact.value}_files": 1}
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["new.jpg", "old.txt"]


def test_access_log_is_purged_through_the_registry(tmp_path: Path) -> None:
    clock_now = [aged(400)]
    log = AccessLog(tmp_path / "log.jsonl", key=b"k" * 32, clock=lambda: clock_now[0])
    actor = Actor(user_id="u", name="Admin", is_admin=True)
    log.append(actor, AccessAction.PLATE_QUERY, target="AB123CD", reason="theft")
    clock_now[0] = aged(10)
    log.append(actor, AccessAction.PLATE_QUERY, target="EF456GH", reason="theft")
    registry = RetentionRegistry()
    registry.register(log)
    assert registry.purge(NOW).removed == {"access_log": 1}
    assert [e["target"] for e in log.entries()] == ["EF456GH", "access_log"]
    assert log.verify().ok


def test_a_failing_store_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore(Artefact.PLATE_READS, "plates", [aged(100)])
    registry = RetentionRegistry()
    registry.register(Broken())
    unregister = registry.register(store)
    report = registry.purge(NOW)
    assert report.failed == ("broken",)
    assert report.removed == {"plates": 1}
    assert "Purging broken" in caplog.text
    unregister()
    assert [s.name for s in registry.stores] == ["broken"]


def test_registering_a_non_store_is_refused() -> None:
    with pytest.raises(TypeError):
        RetentionRegistry().register(object())  # type: ignore[arg-type]


def test_describe_for_diagnostics() -> None:
    registry = RetentionRegistry(RetentionSpec(events=12))
    registry.register(MemoryStore(Artefact.EVENTS, "history"))
    assert registry.describe()["last_purge"] is None
    registry.purge(NOW)
    described = registry.describe()
    artefacts = described["artefacts"]
    assert isinstance(artefacts, dict)
    assert artefacts["events"] == {
        "days": 12,
        "default_days": 30,
        "range_days": [1, 365],
        "stores": ["history"],
    }
    assert described["last_purge"] == {
        "at": NOW.isoformat(),
        "removed": {"history": 0},
        "failed": [],
    }
