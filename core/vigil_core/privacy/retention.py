"""Retention: how long each kind of artefact Vigil keeps may live, and the purge that enforces it.

Every store that keeps something (snapshots, crops, plate reads and hashes, counters, the
access log, exports) registers itself with a `RetentionRegistry` under the `Artefact` it holds.
The host (Home Assistant, or a CLI loop) calls `RetentionRegistry.purge` periodically; each
store deletes what is older than its artefact's retention. A store that fails is logged and
the others still purge: one broken folder must not keep every plate read forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
from pathlib import Path
import threading
from typing import Any, Protocol, runtime_checkable

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from vigil_core.specs import Spec
from vigil_protocol.privacy import RETENTION, Artefact

_LOGGER = logging.getLogger(__name__)


def _days(artefact: Artefact) -> Any:
    bounds = RETENTION[artefact]
    return Field(
        default=bounds.default_days,
        ge=bounds.min_days,
        le=bounds.max_days,
        description=f"Days {artefact.value} are kept ({bounds.min_days}-{bounds.max_days}).",
    )


class RetentionSpec(Spec):
    """Retention in days of every artefact; each defaults to `RETENTION`'s default."""

    events: int = _days(Artefact.EVENTS)
    snapshots: int = _days(Artefact.SNAPSHOTS)
    crops: int = _days(Artefact.CROPS)
    plate_reads: int = _days(Artefact.PLATE_READS)
    plate_hashes: int = _days(Artefact.PLATE_HASHES)
    counters: int = _days(Artefact.COUNTERS)
    access_log: int = _days(Artefact.ACCESS_LOG)
    exports: int = _days(Artefact.EXPORTS)

    @model_validator(mode="after")
    def _hashes_no_longer_than_text(self) -> RetentionSpec:
        if self.plate_hashes > self.plate_reads:
            raise PydanticCustomError(
                "plate_hashes_outlive_reads",
                "plate hashes ({hashes} days) may not be kept longer than plate text ({reads} "
                "days): a keyed hash finds a plate as surely as its text",
                {"hashes": self.plate_hashes, "reads": self.plate_reads},
            )
        return self

    def days(self, artefact: Artefact) -> int:
        """Return the retention of one artefact in days."""
        value: int = getattr(self, artefact.value)
        return value

    def changes(self, other: RetentionSpec) -> dict[str, tuple[int, int]]:
        """Return {artefact: (days here, days in other)} for every artefact that differs."""
        return {
            artefact.value: (self.days(artefact), other.days(artefact))
            for artefact in Artefact
            if self.days(artefact) != other.days(artefact)
        }


@runtime_checkable
class ArtefactStore(Protocol):
    """What a store must offer to be purged: its artefact, a name and `purge`."""

    @property
    def artefact(self) -> Artefact:
        """Return the kind of artefact the store holds."""
        ...

    @property
    def name(self) -> str:
        """Return a short name for logs and diagnostics (no path, no personal data)."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete every item created before `before` (UTC); return how many went (blocking)."""
        ...


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge removed, per store, and which stores failed."""

    at: datetime
    removed: Mapping[str, int]
    failed: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """Return how many items went in all."""
        return sum(self.removed.values())


@dataclass(slots=True)
class _Registered:
    store: ArtefactStore
    last_removed: int = 0


@dataclass(slots=True)
class RetentionRegistry:
    """The stores to purge and the retention each one's artefact has (thread-safe)."""

    spec: RetentionSpec = field(default_factory=RetentionSpec)
    _stores: list[_Registered] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    last_purge: PurgeReport | None = None

    def register(self, store: ArtefactStore) -> Callable[[], None]:
        """Add a store; return a callable that removes it again."""
        if not isinstance(store, ArtefactStore):
            raise TypeError(f"{store!r} does not implement ArtefactStore")
        entry = _Registered(store)
        with self._lock:
            self._stores.append(entry)

        def unregister() -> None:
            with self._lock:
                if entry in self._stores:
                    self._stores.remove(entry)

        return unregister

    @property
    def stores(self) -> tuple[ArtefactStore, ...]:
        """Return the registered stores."""
        with self._lock:
            return tuple(entry.store for entry in self._stores)

    def cutoff(self, artefact: Artefact, now: datetime) -> datetime:
        """Return the creation time before which an artefact is purged."""
        return now - timedelta(days=self.spec.days(artefact))

    def purge(self, now: datetime | None = None) -> PurgeReport:
        """Purge every store of what its retention no longer allows (blocking)."""
        now = now or datetime.now(UTC)
        with self._lock:
            entries = list(self._stores)
        removed: dict[str, int] = {}
        failed: list[str] = []
        for entry in entries:
            store = entry.store
            try:
                count = store.purge(self.cutoff(store.artefact, now))
            except Exception:
                _LOGGER.exception("Purging %s (%s) failed", store.name, store.artefact.value)
                failed.append(store.name)
                continue
            entry.last_removed = count
            removed[store.name] = removed.get(store.name, 0) + count
            if count:
                _LOGGER.info("Purged %d item(s) from %s", count, store.name)
        report = PurgeReport(at=now, removed=removed, failed=tuple(failed))
        self.last_purge = report
        return report

    def describe(self) -> dict[str, object]:
        """Return the retention of every artefact and its stores, for diagnostics."""
        with self._lock:
            entries = list(self._stores)
        artefacts = {
            artefact.value: {
                "days": self.spec.days(artefact),
                "default_days": bounds.default_days,
                "range_days": [bounds.min_days, bounds.max_days],
                "stores": sorted(e.store.name for e in entries if e.store.artefact is artefact),
            }
            for artefact, bounds in RETENTION.items()
        }
        last = self.last_purge
        return {
            "artefacts": artefacts,
            "last_purge": None
            if last is None
            else {
                "at": last.at.isoformat(),
                "removed": dict(last.removed),
                "failed": list(last.failed),
            },
        }


@dataclass(frozen=True, slots=True)
class DirectoryStore:
    """Files in one folder (snapshots, crops, exports) purged by their modification time."""

    artefact: Artefact
    directory: Path
    patterns: tuple[str, ...] = ("*",)
    name: str = ""

    def __post_init__(self) -> None:
        """Name the store after its artefact when no name is given."""
        if not self.name:
            object.__setattr__(self, "name", f"{self.artefact.value}_files")

    def purge(self, before: datetime) -> int:
        """Delete the files last modified before `before`; sub-folders are walked too."""
        if not self.directory.is_dir():
            return 0
        limit = before.timestamp()
        removed = 0
        for path in _matching(self.directory, self.patterns):
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _matching(directory: Path, patterns: Iterable[str]) -> set[Path]:
    return {path for pattern in patterns for path in directory.rglob(pattern)}
