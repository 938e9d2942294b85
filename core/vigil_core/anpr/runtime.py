"""The engine's plate-reading service: shared models, watchlist, routes, stores and purges."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
import threading
import time
from typing import TYPE_CHECKING, Any
import uuid

from vigil_core.anpr.decode import FormatPrior
from vigil_core.anpr.models import AnprModels, ReaderSettings, format_prior
from vigil_core.anpr.objections import OBJECTIONS_FILE, Objection, ObjectionList
from vigil_core.anpr.routes import RouteTracker
from vigil_core.anpr.stage import RULE_ID, AnprStage, Passage, make_event
from vigil_core.anpr.store import (
    AUDIT_FILE,
    DATABASE_FILE,
    SECRET_FILE,
    AuditLog,
    AuditValue,
    CropStore,
    JsonlAuditLog,
    MatchRecord,
    MatchStatus,
    MemoryAuditLog,
    PlateKeyer,
    PlateRecords,
    PlateStore,
    PrivacyMode,
    Sighting,
    StoredCrop,
)
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.inference.session import SessionCache, SessionOptions
from vigil_core.plates.normalize import PlateFormat
from vigil_core.plates.watchlist import Watchlist, WatchMatch
from vigil_core.privacy.retention import RetentionSpec
from vigil_core.types import Frame
from vigil_protocol.privacy import Artefact

if TYPE_CHECKING:
    from vigil_core.config import AnprSettings, AnprSpec, CameraSpec, EngineConfig, WatchlistSpec
    from vigil_core.privacy.retention import RetentionRegistry

_LOGGER = logging.getLogger(__name__)

PURGE_INTERVAL_S = 600.0
"""Retention purges run this often (and once when the service opens)."""

PRIORS_FILE = "anpr_format_priors.json"
"""Per-camera counts of plate formats seen (no plate): the learned decoding priors."""

MATCH_EVENT = "watchlist_match"
"""A read matched a watchlist entry: a suspicion, pending until an operator reviews it."""
CONFIRMED_EVENT = "watchlist_match_confirmed"
"""An operator confirmed a match: the event automations should act on."""
REJECTED_EVENT = "watchlist_match_rejected"
"""An operator rejected a match (another plate): its crop and plate hash are gone."""

PLATE_ATTRS = ("plate",)
"""Event attributes that hold plate text: diagnostics and logs must redact them."""


class AnprRuntime:
    """Everything plate reading shares across cameras, owned by the engine.

    Constructing it does no I/O; `stages_for` (blocking: loads models, opens the store) runs
    in a worker thread. The watchlist can be swapped at any time (`set_watchlist`).
    """

    def __init__(
        self,
        settings: AnprSettings,
        *,
        sessions: SessionCache,
        models_dir: Path | str | None = None,
        state_dir: Path | str | None = None,
        retention: RetentionSpec | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
        purge_interval_s: float = PURGE_INTERVAL_S,
    ) -> None:
        """Keep the settings; nothing is loaded or opened yet."""
        self.settings = settings
        self.models = AnprModels(
            sessions=sessions,
            options=SessionOptions(intra_op_threads=settings.threads),
            models_dir=models_dir,
            detector_model=settings.detector,
            ocr_model=settings.ocr_model,
        )
        self.state_dir = Path(state_dir) if state_dir else None
        self.retention = retention or RetentionSpec()
        self._audit = audit
        self._clock = clock
        self._purge_interval_s = purge_interval_s
        self.watchlist = Watchlist.from_spec(settings.watchlist)
        self.routes = RouteTracker(settings.watchlist.route_window_s)
        self.crops = CropStore()
        self._store: PlateStore | None = None
        self._objections: ObjectionList | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._modes: dict[str, PrivacyMode] = {}
        self._priors: dict[str, tuple[FormatPrior, list[str]]] = {}

    @classmethod
    def from_config(
        cls,
        config: EngineConfig,
        sessions: SessionCache,
        registry: RetentionRegistry | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> AnprRuntime:
        """Build the service from the engine configuration; register its stores for purges."""
        runtime = cls(
            config.anpr,
            sessions=sessions,
            models_dir=config.models_dir,
            state_dir=config.state_dir,
            retention=config.privacy.retention,
            audit=audit,
        )
        if registry is not None:
            for store in runtime.artefact_stores():
                registry.register(store)
        return runtime

    # Cameras ----------------------------------------------------------------------------------

    def stages_for(self, camera: CameraSpec) -> list[AnprStage]:
        """Return the camera's plate-reading stage (none when disabled); blocking."""
        spec = camera.anpr
        if not spec.enabled:
            return []
        store = self.store()
        mode = PrivacyMode(spec.privacy)
        self._modes[camera.id] = mode
        # A camera moved to a stricter mode must not keep what the looser one stored.
        store.forget_camera(camera.id, mode)
        if mode is not PrivacyMode.FULL:
            self.crops.forget_camera(camera.id)
        settings = _reader_settings(spec)
        reader = self.models.reader(settings, learner=self._prior(camera.id, settings))
        return [AnprStage(camera.id, spec, reader, self)]

    def load_models(self, cameras: Iterable[CameraSpec]) -> None:
        """Load the plate models the cameras need to read plates; blocking.

        Run before any camera starts, so that a missing or corrupt model is one error at start
        rather than a failure after the first cameras went online. The models stay loaded
        (shared), so the cameras' stages reuse them.
        """
        for camera in cameras:
            if camera.anpr.enabled:
                self.models.reader(_reader_settings(camera.anpr))

    def _prior(self, camera_id: str, settings: ReaderSettings) -> FormatPrior | None:
        """Return the camera's format prior, restored from the state folder when saved."""
        prior = format_prior(settings)
        if prior is None:
            self._priors.pop(camera_id, None)
            return None
        saved = self._saved_priors().get(camera_id)
        if isinstance(saved, dict) and saved.get("countries") == list(settings.countries):
            prior.load({str(k): float(v) for k, v in saved.get("counts", {}).items()})
        self._priors[camera_id] = (prior, list(settings.countries))
        return prior

    def _saved_priors(self) -> dict[str, Any]:
        if self.state_dir is None or not (self.state_dir / PRIORS_FILE).is_file():
            return {}
        try:
            data = json.loads((self.state_dir / PRIORS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_priors(self) -> None:
        """Write each camera's format counts (no plate) to the state folder; blocking."""
        if self.state_dir is None or not self._priors:
            return
        data = {
            camera_id: {"countries": countries, "counts": prior.counts()}
            for camera_id, (prior, countries) in self._priors.items()
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".{PRIORS_FILE}.tmp"
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(self.state_dir / PRIORS_FILE)

    def store(self) -> PlateStore:
        """Return the plate store, opening it (and the purge timer) on first use; blocking."""
        with self._lock:
            if self._store is None:
                folder = self.state_dir
                keyer = (
                    PlateKeyer.load_or_create(folder / SECRET_FILE)
                    if folder is not None
                    else PlateKeyer(_ephemeral_secret())
                )
                audit = self._audit or (
                    JsonlAuditLog(folder / AUDIT_FILE, self._clock)
                    if folder is not None
                    else MemoryAuditLog(self._clock)
                )
                self._audit = audit
                self._store = PlateStore(
                    folder / DATABASE_FILE if folder is not None else None,
                    keyer,
                    audit,
                    clock=self._clock,
                )
                self._objections = ObjectionList(
                    folder / OBJECTIONS_FILE if folder is not None else None, keyer
                )
                self.purge()
                self._start_timer()
            return self._store

    def objections(self) -> ObjectionList:
        """Return the objection list (opening the store first); blocking."""
        self.store()
        assert self._objections is not None
        return self._objections

    @property
    def audit(self) -> AuditLog | None:
        """Return the audit log of plate queries (None before the store opened)."""
        return self._audit

    def set_watchlist(self, spec: WatchlistSpec) -> None:
        """Replace the watchlist (subentry added, changed or removed); takes effect at once."""
        self.watchlist = Watchlist.from_spec(spec)
        self.routes.window_s = spec.route_window_s

    # The sink ---------------------------------------------------------------------------------

    def passage(self, passage: Passage, spec: AnprSpec, frame: Frame) -> list[RuleEvent]:
        """Match a decided passage, keep what its camera's mode allows, return the events.

        A plate on the objection list is only counted: never hashed, stored or matched, except
        by a watchlist entry that answers a legal obligation.
        """
        now = self._clock()
        mode = PrivacyMode(spec.privacy)
        store = self.store()
        plate = passage.plate
        objected = self.objections().covers(plate.text)
        match = self.watchlist.match(plate.text, now, objected=objected)
        events: list[RuleEvent] = []
        crop_id: str | None = None
        keep_crop = spec.crops and passage.crop is not None
        if keep_crop and (match is not None or (mode is PrivacyMode.FULL and not objected)):
            assert passage.crop is not None
            crop_id = self.crops.put(passage.crop, passage.camera_id, now)
        shown = _display(plate.text, plate.format)
        if match is not None:
            events += self._matched(passage, frame, match, shown=shown, crop_id=crop_id, now=now)
        keeps = PrivacyMode.WATCHLIST if objected else mode
        if keeps is PrivacyMode.HASHED:
            store.add_hashed(passage.camera_id, plate.text, now, passage.direction)
        elif keeps is PrivacyMode.FULL:
            store.add_read(
                passage.camera_id,
                plate.text,
                now,
                confidence=plate.confidence,
                direction=passage.direction,
                crop_id=crop_id,
            )
            events.append(
                make_event(
                    "plate_read",
                    frame,
                    passage.track_id,
                    {
                        "plate": shown,
                        "confidence": round(plate.confidence, 3),
                        "direction": passage.direction,
                        "format": plate.format.key if plate.format else None,
                        "crop_id": crop_id,
                    },
                )
            )
        count = store.count_passage(passage.camera_id, now)
        attrs: dict[str, AttrValue] = {
            "passages_today": count,
            "direction": passage.direction,
            "watchlisted": match is not None,
        }
        events.append(make_event("plate_passage", frame, passage.track_id, attrs))
        return events

    def _matched(
        self,
        passage: Passage,
        frame: Frame,
        match: WatchMatch,
        *,
        shown: str,
        crop_id: str | None,
        now: float,
    ) -> list[RuleEvent]:
        """Keep a match as pending and return its event (and a route hop of its entry)."""
        entry = match.entry
        match_id = uuid.uuid4().hex
        self.store().add_match(
            match_id=match_id,
            entry_id=entry.entry_id,
            camera_id=passage.camera_id,
            plate=passage.plate.text,
            at=now,
            distance=round(match.distance, 2),
            crop_id=crop_id,
        )
        events = [
            make_event(
                MATCH_EVENT,
                frame,
                passage.track_id,
                {
                    "match_id": match_id,
                    "status": MatchStatus.PENDING.value,
                    "entry_id": entry.entry_id,
                    "label": entry.label,
                    "reason": entry.reason,
                    "plate": shown,
                    "distance": round(match.distance, 2),
                    "exact": match.exact,
                    "confidence": round(passage.plate.confidence, 3),
                    "direction": passage.direction,
                    "crop_id": crop_id,
                },
            )
        ]
        hop = self.routes.observe(entry.entry_id, passage.camera_id, now)
        if hop is not None:
            events.append(
                make_event(
                    "plate_route",
                    frame,
                    passage.track_id,
                    {
                        "route_id": hop.route_id,
                        "entry_id": entry.entry_id,
                        "label": entry.label,
                        "cameras": list(hop.cameras),
                        "from_camera": hop.cameras[-2],
                        "elapsed_s": round(hop.elapsed_s, 1),
                    },
                )
            )
        return events

    # Review and rights --------------------------------------------------------------------------

    def review_match(
        self, match_id: str, confirm: bool, *, by: str
    ) -> tuple[MatchRecord, RuleEvent]:
        """Confirm or reject a pending match; return it and the event automations follow.

        A rejected match loses its plate hash and crop (it was another plate); its record and
        the access-log entry stay until the plate-read retention removes them.
        """
        now = self._clock()
        status = MatchStatus.CONFIRMED if confirm else MatchStatus.REJECTED
        store = self.store()
        before = store.match(match_id)
        record = store.review(match_id, status, by=by, at=now)
        if not confirm and before.crop_id:
            self.crops.remove([before.crop_id])
        entry = next((e for e in self.watchlist.entries if e.entry_id == record.entry_id), None)
        event = RuleEvent(
            kind=CONFIRMED_EVENT if confirm else REJECTED_EVENT,
            camera_id=record.camera_id,
            rule_id=RULE_ID,
            track_id=None,
            phase=EventPhase.INSTANT,
            at_s=0.0,
            frame_index=-1,
            wall_time=now,
            attrs={
                "match_id": record.match_id,
                "status": record.status.value,
                "entry_id": record.entry_id,
                "label": entry.label if entry is not None else "",
                "reason": entry.reason if entry is not None else "",
                "distance": record.distance,
                "seen_at": record.seen_at,
                "crop_id": record.crop_id,
            },
        )
        return record, event

    def matches(self, status: MatchStatus | None = None, limit: int = 100) -> list[MatchRecord]:
        """Return the latest watchlist matches (of one status), newest first; blocking."""
        return self.store().matches(status, limit)

    def plate_records(
        self,
        plate: str,
        *,
        since: float | None = None,
        until: float | None = None,
        camera_id: str | None = None,
    ) -> tuple[PlateRecords, dict[str, StoredCrop]]:
        """Return everything kept of a plate in a window, with its crops (a right of access)."""
        records = self.store().records(plate, since=since, until=until, camera_id=camera_id)
        crops = {
            crop_id: crop
            for crop_id in records.crop_ids
            if (crop := self.crops.get(crop_id)) is not None
        }
        return records, crops

    def erase_plate(
        self,
        plate: str,
        *,
        since: float | None = None,
        until: float | None = None,
        camera_id: str | None = None,
    ) -> dict[str, int]:
        """Delete everything kept of a plate in a window, crops included; return the counts."""
        store = self.store()
        records = store.records(plate, since=since, until=until, camera_id=camera_id)
        removed = store.erase(plate, since=since, until=until, camera_id=camera_id)
        removed["crops"] = self.crops.remove(records.crop_ids)
        return removed

    def add_objection(
        self, plate: str, reason: str, *, erase: bool = True
    ) -> tuple[Objection, bool, dict[str, int]]:
        """Put a plate on the objection list (and, by default, erase what is kept of it)."""
        objection, new = self.objections().add(plate, reason, self._clock())
        removed = self.erase_plate(plate) if erase else {}
        return objection, new, removed

    # Host API ---------------------------------------------------------------------------------

    def query(
        self,
        plate: str,
        *,
        who: str,
        reason: str,
        since: datetime | None = None,
        until: datetime | None = None,
        camera_id: str | None = None,
        details: Mapping[str, AuditValue] | None = None,
    ) -> list[Sighting]:
        """Answer "did this plate pass?" from hashed and full-mode stores; audited first."""
        return self.store().query(
            plate,
            who=who,
            reason=reason,
            since=since.timestamp() if since else None,
            until=until.timestamp() if until else None,
            camera_id=camera_id,
            details=details,
        )

    def crop(self, crop_id: str) -> StoredCrop | None:
        """Return a kept crop (watchlist match, full-mode read) by id."""
        return self.crops.get(crop_id)

    def passages(self, camera_id: str) -> int:
        """Return today's count of plate passages of a camera."""
        return self.store().passages(camera_id)

    def diagnostics(self) -> dict[str, object]:
        """Return counts and settings only: no plate, hash or crop."""
        store = self._store
        return {
            "watchlist_entries": len(self.watchlist),
            "modes": {camera: mode.value for camera, mode in self._modes.items()},
            "stored_rows": store.counts() if store is not None else None,
            "crops": len(self.crops),
        }

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete what retention no longer allows from every plate store; blocking."""
        now = self._clock() if now is None else now
        days = self.retention.days
        removed = {"crops": self.crops.purge(now - _seconds(days(Artefact.CROPS)))}
        store = self._store
        if store is not None:
            # A keyed hash never outlives the text it stands for.
            hashes = min(days(Artefact.PLATE_HASHES), days(Artefact.PLATE_READS))
            removed["plate_hashes"] = store.purge_hashed(now - _seconds(hashes))
            removed["plate_reads"] = store.purge_reads(now - _seconds(days(Artefact.PLATE_READS)))
            removed["matches"] = store.purge_matches(now - _seconds(days(Artefact.PLATE_READS)))
            removed["counters"] = store.purge_passages(now - _seconds(days(Artefact.COUNTERS)))
        return removed

    def artefact_stores(self) -> list[_ArtefactView]:
        """Return views of the stores for the engine's retention registry."""
        return [
            _ArtefactView(Artefact.PLATE_HASHES, "anpr_plate_hashes", self, "hashed"),
            _ArtefactView(Artefact.PLATE_READS, "anpr_plate_reads", self, "reads"),
            _ArtefactView(Artefact.CROPS, "anpr_crops", self, "crops"),
        ]

    def close(self) -> None:
        """Stop the purge timer, save the format priors and close the store; blocking."""
        self._stop.set()
        try:
            self.save_priors()
        except OSError:
            _LOGGER.warning("Could not save the plate format statistics")
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join(timeout=5.0)
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _start_timer(self) -> None:
        if self._timer is not None or self._purge_interval_s <= 0:
            return

        def run() -> None:
            while not self._stop.wait(self._purge_interval_s):
                try:
                    self.purge()
                    self.save_priors()
                except Exception:
                    _LOGGER.exception("Plate retention purge failed")

        self._timer = threading.Thread(target=run, name="vigil-anpr-purge", daemon=True)
        self._timer.start()


@dataclass(frozen=True, slots=True)
class _ArtefactView:
    """One plate store as the privacy retention registry sees it."""

    artefact: Artefact
    name: str
    runtime: AnprRuntime
    table: str

    def purge(self, before: datetime) -> int:
        """Delete items created before `before` (UTC)."""
        cutoff = before.astimezone(UTC).timestamp()
        if self.table == "crops":
            return self.runtime.crops.purge(cutoff)
        store = self.runtime._store
        if store is None:
            return 0
        if self.table == "hashed":
            return store.purge_hashed(cutoff)
        # Watchlist matches hold a plate hash too: they go with the reads.
        return store.purge_reads(cutoff) + store.purge_matches(cutoff)


def _seconds(days: int) -> float:
    return timedelta(days=days).total_seconds()


def _display(text: str, fmt: PlateFormat | None) -> str:
    return fmt.display(text) if fmt is not None else text


def _reader_settings(spec: AnprSpec) -> ReaderSettings:
    """Return a camera's reader settings from its plate-reading spec."""
    return ReaderSettings(
        countries=tuple(spec.countries),
        ocr=spec.ocr,
        min_confidence=spec.min_confidence,
        refine=spec.refine,
        learn_formats=spec.learn_formats,
    )


def _ephemeral_secret() -> bytes:
    import secrets  # noqa: PLC0415

    return secrets.token_bytes(32)
