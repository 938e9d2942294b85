"""The ANPR stage end to end with the real models: passages, votes, privacy modes, routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import logging
from pathlib import Path
import time

import numpy as np
import pytest

from tests.support.plates import plate_on_photo, read_rgb
from tests.support.shared import MEDIA_DIR, MODELS_DIR
from vigil_core.anpr.runtime import AnprRuntime
from vigil_core.anpr.stage import AnprStage, direction_of
from vigil_core.anpr.store import MatchAlreadyReviewed, MatchStatus, UnknownMatch
from vigil_core.config import AnprSettings, CameraSpec
from vigil_core.events.model import RuleEvent
from vigil_core.inference.session import SessionCache
from vigil_core.privacy.retention import RetentionSpec
from vigil_core.types import BBox, Frame, Track, TrackState
from vigil_tools.eval.anpr import load_folder

PLATE = "AB-123-CD"
PLATE_TEXT = "AB123CD"
OTHER = "GH-456-KL"
T0 = datetime(2025, 11, 20, 8, 0, tzinfo=UTC).timestamp()


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class Scene:
    """A real photo with a rendered plate, and a vehicle box around it."""

    image: np.ndarray
    plate: BBox
    vehicle: BBox


@pytest.fixture(scope="module")
def sessions() -> SessionCache:
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return SessionCache()


@pytest.fixture(scope="module")
def base_photo() -> tuple[np.ndarray, BBox]:
    folder = MEDIA_DIR / "plates" / "us"
    if not folder.is_dir():
        pytest.skip("the shared plate photos are not on this machine")
    photo = next(p for p in load_folder(folder) if p.box is not None and p.box.width >= 120)
    assert photo.box is not None
    return read_rgb(photo.path), photo.box


def scene(base: tuple[np.ndarray, BBox], plate: str) -> Scene:
    image, box = plate_on_photo(base[0], base[1], plate, "fr")
    height, width = image.shape[:2]
    vehicle = BBox(
        max(0.0, box.x1 - 1.5 * box.width),
        max(0.0, box.y1 - 4 * box.height),
        min(float(width), box.x2 + 1.5 * box.width),
        min(float(height), box.y2 + 1.5 * box.height),
    )
    return Scene(image, box, vehicle)


def approach(s: Scene, steps: int = 4) -> Iterator[tuple[np.ndarray, BBox]]:
    """Yield frames zooming towards the vehicle (it grows: approaching) and its box on each."""
    height, width = s.image.shape[:2]
    cx, cy = s.vehicle.center
    for k in range(steps):
        zoom = 1.0 + 0.15 * k
        w, h = width / zoom, height / zoom
        x0 = min(max(0.0, cx - w / 2), width - w)
        y0 = min(max(0.0, cy - h / 2), height - h)
        window = s.image[int(y0) : int(y0 + h), int(x0) : int(x0 + w)]
        from PIL import Image  # noqa: PLC0415

        frame = np.asarray(
            Image.fromarray(window).resize((width, height), Image.Resampling.BILINEAR)
        )
        sx, sy = width / window.shape[1], height / window.shape[0]
        v = s.vehicle
        yield frame, BBox((v.x1 - x0) * sx, (v.y1 - y0) * sy, (v.x2 - x0) * sx, (v.y2 - y0) * sy)


def frame_of(camera_id: str, index: int, image: np.ndarray) -> Frame:
    return Frame(
        camera_id=camera_id,
        index=index,
        pts_s=index * 0.2,
        received_at=time.monotonic(),
        image=image,
        source_size=(image.shape[1], image.shape[0]),
    )


def track(box: BBox, pts: float) -> Track:
    return Track(
        track_id=5,
        bbox=box,
        label="car",
        score=0.9,
        state=TrackState.CONFIRMED,
        velocity=(0.0, 0.0),
        first_seen_s=0.0,
        last_seen_s=pts,
        hits=10,
    )


def make_runtime(
    sessions: SessionCache,
    tmp_path: Path,
    clock: Clock,
    watchlist: list[dict[str, object]] | None = None,
) -> AnprRuntime:
    entries = [
        {"reason": "stolen vehicle report", "expires": "2099-12-31", **e} for e in watchlist or []
    ]
    settings = AnprSettings.model_validate({"watchlist": {"entries": entries}})
    return AnprRuntime(
        settings,
        sessions=sessions,
        models_dir=MODELS_DIR,
        state_dir=tmp_path / "state",
        retention=RetentionSpec(),
        clock=clock,
        purge_interval_s=0,
    )


def camera(camera_id: str = "gate", **anpr: object) -> CameraSpec:
    return CameraSpec.model_validate(
        {"id": camera_id, "source": "x.mp4", "anpr": {"enabled": True, "countries": ["fr"], **anpr}}
    )


def run_passage(stage: AnprStage, s: Scene, camera_id: str = "gate") -> list[RuleEvent]:
    """Feed a vehicle passage (4 frames), then a frame without it; return every event."""
    events: list[RuleEvent] = []
    index = 0
    for index, (image, box) in enumerate(approach(s)):
        events += stage.process(
            frame_of(camera_id, index, image), [track(box, index * 0.2)], fresh=True
        )
    events += stage.process(frame_of(camera_id, index + 1, s.image), [], fresh=True)
    return events


def kinds(events: list[RuleEvent]) -> list[str]:
    return [event.kind for event in events]


def no_plate_in(value: object) -> None:
    text = repr(value)
    assert PLATE_TEXT not in text and PLATE not in text


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_passage_is_one_vote_with_its_direction(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(
        sessions, tmp_path, clock, [{"id": "van", "plate": PLATE, "label": "Van"}]
    )
    (stage,) = runtime.stages_for(camera())
    events = run_passage(stage, scene(base_photo, PLATE))
    assert kinds(events) == ["watchlist_match", "plate_passage"]
    match, passage = events
    assert match.attrs["plate"] == "AB-123-CD"
    assert match.attrs["entry_id"] == "van" and match.attrs["label"] == "Van"
    assert match.attrs["direction"] == "approaching"
    assert match.track_id == 5 and match.rule_id == "anpr"
    crop = runtime.crop(str(match.attrs["crop_id"]))
    assert crop is not None and crop.jpeg.startswith(b"\xff\xd8")
    assert passage.attrs == {"passages_today": 1, "direction": "approaching", "watchlisted": True}
    runtime.close()


def test_watchlist_mode_forgets_a_read_that_matches_nothing(
    sessions: SessionCache,
    base_photo: tuple[np.ndarray, BBox],
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    runtime = make_runtime(sessions, tmp_path, clock, [{"id": "other", "plate": OTHER}])
    (stage,) = runtime.stages_for(camera())
    events = run_passage(stage, scene(base_photo, PLATE))
    assert kinds(events) == ["plate_passage"]
    assert events[0].attrs == {
        "passages_today": 1,
        "direction": "approaching",
        "watchlisted": False,
    }
    # Gone: not in the store, the crops, the stage, the diagnostics, the logs or the events.
    assert runtime.store().counts() == {"passages": 1, "hashed": 0, "reads": 0, "matches": 0}
    assert len(runtime.crops) == 0
    assert stage._open == {}
    assert runtime.query(PLATE, who="auditor", reason="test") == []
    no_plate_in(runtime.diagnostics())
    no_plate_in([e.as_dict() for e in events])
    no_plate_in(caplog.text)
    runtime.close()
    database = (tmp_path / "state" / "anpr.sqlite3").read_bytes()
    assert PLATE_TEXT.encode() not in database


def test_hashed_mode_answers_only_who_knows_the_plate(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(sessions, tmp_path, clock)
    (stage,) = runtime.stages_for(camera(privacy="hashed"))
    events = run_passage(stage, scene(base_photo, PLATE))
    assert kinds(events) == ["plate_passage"]
    no_plate_in([e.as_dict() for e in events])
    clock.now += 86400
    yesterday = datetime.fromtimestamp(T0 - 3600, UTC)
    found = runtime.query(
        "ab 123 cd", who="alice", reason="did it pass yesterday?", since=yesterday
    )
    assert [(s.camera_id, s.direction, s.plate) for s in found] == [("gate", "approaching", None)]
    assert runtime.query(OTHER, who="alice", reason="and this one?") == []
    audit = (tmp_path / "state" / "anpr_audit.jsonl").read_text()
    assert audit.count('"plate_query"') == 2 and "did it pass yesterday?" in audit
    assert PLATE_TEXT not in audit
    assert runtime.store().keyer.key(PLATE) in audit
    no_plate_in(runtime.diagnostics())
    runtime.close()
    assert PLATE_TEXT.encode() not in (tmp_path / "state" / "anpr.sqlite3").read_bytes()


def test_full_mode_keeps_text_until_the_retention_purge(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(sessions, tmp_path, clock)
    (stage,) = runtime.stages_for(camera(privacy="full", full_acknowledged=True))
    events = run_passage(stage, scene(base_photo, PLATE))
    assert kinds(events) == ["plate_read", "plate_passage"]
    read = events[0]
    assert read.attrs["plate"] == "AB-123-CD" and read.attrs["format"] == "fr_siv"
    assert runtime.crop(str(read.attrs["crop_id"])) is not None
    assert [s.plate for s in runtime.query(PLATE, who="keeper", reason="barrier log")] == [
        PLATE_TEXT
    ]
    days = RetentionSpec().plate_reads
    assert runtime.purge(T0 + (days - 1) * 86400)["plate_reads"] == 0
    removed = runtime.purge(T0 + (days + 1) * 86400)
    assert removed["plate_reads"] == 1 and removed["crops"] == 1
    assert runtime.query(PLATE, who="keeper", reason="barrier log") == []
    runtime.close()


def test_switching_to_a_stricter_mode_forgets_the_kept_reads(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(sessions, tmp_path, clock)
    (stage,) = runtime.stages_for(camera(privacy="full", full_acknowledged=True))
    run_passage(stage, scene(base_photo, PLATE))
    assert runtime.store().counts()["reads"] == 1
    runtime.stages_for(camera(privacy="watchlist"))
    assert runtime.store().counts()["reads"] == 0
    assert len(runtime.crops) == 0
    runtime.close()


def test_a_watched_plate_seen_at_two_cameras_is_one_route(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(
        sessions, tmp_path, clock, [{"id": "van", "plate": PLATE, "label": "Van"}]
    )
    (gate,) = runtime.stages_for(camera("gate"))
    (yard,) = runtime.stages_for(camera("yard"))
    s = scene(base_photo, PLATE)
    assert "plate_route" not in kinds(run_passage(gate, s, "gate"))
    clock.now += 240
    events = run_passage(yard, s, "yard")
    assert kinds(events) == ["watchlist_match", "plate_route", "plate_passage"]
    route = events[1]
    assert route.camera_id == "yard"
    assert route.attrs["cameras"] == ["gate", "yard"] and route.attrs["from_camera"] == "gate"
    assert route.attrs["elapsed_s"] == pytest.approx(240.0)
    no_plate_in(route.attrs)
    runtime.close()


def test_an_expired_entry_no_longer_matches(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    expired = datetime.fromtimestamp(T0, UTC) - timedelta(minutes=1)
    runtime = make_runtime(
        sessions, tmp_path, clock, [{"id": "van", "plate": PLATE, "expires": expired}]
    )
    (stage,) = runtime.stages_for(camera())
    assert kinds(run_passage(stage, scene(base_photo, PLATE))) == ["plate_passage"]
    runtime.close()


def test_the_watchlist_can_change_while_running(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(sessions, tmp_path, clock)
    (stage,) = runtime.stages_for(camera())
    s = scene(base_photo, PLATE)
    assert kinds(run_passage(stage, s)) == ["plate_passage"]
    settings = AnprSettings.model_validate(
        {
            "watchlist": {
                "entries": [
                    {
                        "id": "van",
                        "plate": "AB-12?-CD",
                        "reason": "stolen vehicle report",
                        "expires": "2099-12-31",
                    }
                ]
            }
        }
    )
    runtime.set_watchlist(settings.watchlist)
    assert kinds(run_passage(stage, s))[0] == "watchlist_match"
    runtime.close()


def test_nothing_of_a_plate_is_logged_in_any_mode(
    sessions: SessionCache,
    base_photo: tuple[np.ndarray, BBox],
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    s = scene(base_photo, PLATE)
    for index, anpr in enumerate(
        [{}, {"privacy": "hashed"}, {"privacy": "full", "full_acknowledged": True}]
    ):
        runtime = make_runtime(
            sessions, tmp_path / str(index), clock, [{"id": "van", "plate": PLATE}]
        )
        (stage,) = runtime.stages_for(camera(**anpr))
        run_passage(stage, s)
        runtime.query(PLATE, who="auditor", reason="log check")
        runtime.purge(T0 + 400 * 86400)
        no_plate_in(runtime.diagnostics())
        runtime.close()
    no_plate_in(caplog.text)


def test_dedicated_camera_reads_plates_without_vehicle_tracks(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    runtime = make_runtime(sessions, tmp_path, clock, [{"id": "van", "plate": PLATE}])
    s = scene(base_photo, PLATE)
    p = s.plate
    window = s.image[
        int(max(0, p.y1 - 2 * p.height)) : int(p.y2 + 2 * p.height),
        int(max(0, p.x1 - p.width / 2)) : int(p.x2 + p.width / 2),
    ]
    (stage,) = runtime.stages_for(camera(mode="full_frame"))
    events: list[RuleEvent] = []
    for index in range(3):
        events += stage.process(frame_of("gate", index, window), [], fresh=True)
    assert kinds(events) == ["watchlist_match", "plate_passage"]  # settled after 3 agreeing reads
    assert events[0].track_id is None
    assert stage.finish() == []
    runtime.close()


def test_a_plate_read_before_its_vehicle_is_tracked_is_one_passage_with_it(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    """Over the frame, the plate is read before the vehicle's track is confirmed.

    The vehicle takes the plate-only passage over: one match and one count, with the vehicle's
    track and the direction of the plate's boxes (before, two passages: two matches).
    """
    runtime = make_runtime(sessions, tmp_path, clock, [{"id": "van", "plate": PLATE}])
    s = scene(base_photo, PLATE)
    (stage,) = runtime.stages_for(camera(mode="full_frame"))
    events: list[RuleEvent] = []
    for index, (image, box) in enumerate(approach(s, steps=6)):
        tracks = [track(box, index * 0.2)] if index >= 2 else []
        events += stage.process(frame_of("gate", index, image), tracks, fresh=True)
    events += stage.finish()
    assert kinds(events) == ["watchlist_match", "plate_passage"]
    assert events[0].track_id == 5
    assert events[0].attrs["direction"] == "approaching"
    runtime.close()


def test_disabled_camera_has_no_stage(sessions: SessionCache, tmp_path: Path, clock: Clock) -> None:
    runtime = make_runtime(sessions, tmp_path, clock)
    plain = CameraSpec.model_validate({"id": "cam", "source": "x.mp4"})
    assert runtime.stages_for(plain) == []
    runtime.close()


@pytest.mark.parametrize(
    ("boxes", "direction"),
    [
        ([BBox(100, 100, 200, 180), BBox(90, 110, 230, 230)], "approaching"),
        ([BBox(90, 110, 230, 230), BBox(100, 100, 200, 180)], "receding"),
        ([BBox(100, 100, 200, 180), BBox(300, 100, 400, 180)], "left_to_right"),
        ([BBox(300, 100, 400, 180), BBox(100, 100, 200, 180)], "right_to_left"),
        ([BBox(100, 100, 200, 180), BBox(102, 101, 202, 181)], "stationary"),
        ([BBox(100, 100, 200, 180)], "unknown"),
    ],
)
def test_direction_of_travel(boxes: list[BBox], direction: str) -> None:
    assert direction_of(boxes) == direction


def test_a_match_is_pending_until_an_operator_reviews_it(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    """Issue 21 point 1: a read is a suspicion; automations follow the confirmed event."""
    runtime = make_runtime(sessions, tmp_path, clock, [{"id": "van", "plate": PLATE}])
    (stage,) = runtime.stages_for(camera())
    s = scene(base_photo, PLATE)
    match = run_passage(stage, s)[0]
    assert match.kind == "watchlist_match" and match.attrs["status"] == "pending"
    match_id = str(match.attrs["match_id"])
    assert [m.match_id for m in runtime.matches(MatchStatus.PENDING)] == [match_id]
    record, event = runtime.review_match(match_id, True, by="alice")
    assert record.status is MatchStatus.CONFIRMED and record.reviewed_by == "alice"
    assert event.kind == "watchlist_match_confirmed" and event.camera_id == "gate"
    assert event.attrs["match_id"] == match_id and event.attrs["entry_id"] == "van"
    assert event.attrs["status"] == "confirmed" and event.attrs["crop_id"] == match.attrs["crop_id"]
    no_plate_in(event.attrs)
    with pytest.raises(MatchAlreadyReviewed) as caught:
        runtime.review_match(match_id, False, by="bob")
    assert caught.value.translation_key == "match_already_reviewed"
    with pytest.raises(UnknownMatch):
        runtime.review_match("nope", True, by="alice")
    # A rejected match was another plate: its crop and hash go, the record stays.
    other = run_passage(stage, s)[0]
    crop_id = str(other.attrs["crop_id"])
    assert runtime.crop(crop_id) is not None
    record, event = runtime.review_match(str(other.attrs["match_id"]), False, by="alice")
    assert event.kind == "watchlist_match_rejected" and record.crop_id is None
    assert runtime.crop(crop_id) is None
    assert runtime.plate_records(PLATE)[0].matches == [runtime.store().match(match_id)]
    # Matches go with the plate reads' retention.
    days = RetentionSpec().plate_reads
    assert runtime.purge(T0 + (days + 1) * 86400)["matches"] == 2
    runtime.close()


def test_an_objected_plate_is_never_hashed_stored_or_matched(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    """Issue 21 point 6: only a legal-obligation entry still matches an objected plate."""
    runtime = make_runtime(sessions, tmp_path, clock, [{"id": "van", "plate": PLATE}])
    (stage,) = runtime.stages_for(camera(privacy="full", full_acknowledged=True))
    s = scene(base_photo, PLATE)
    run_passage(stage, s)
    assert runtime.store().counts()["reads"] == 1
    objection, new, erased = runtime.add_objection("ab 123 cd", "keeper objected by letter")
    assert new and erased == {"hashed": 0, "reads": 1, "matches": 1, "crops": 1}
    events = run_passage(stage, s)
    assert kinds(events) == ["plate_passage"] and events[0].attrs["watchlisted"] is False
    counts = runtime.store().counts()
    assert counts["reads"] == 0 and counts["matches"] == 0 and runtime.passages("gate") == 2
    assert len(runtime.crops) == 0
    # The list keeps a keyed hash, never the plate, and survives a restart.
    runtime.close()
    listed = (tmp_path / "state" / "anpr_objections.json").read_text()
    assert PLATE_TEXT not in listed and objection.objection_id in listed
    runtime = make_runtime(
        sessions,
        tmp_path,
        clock,
        [{"id": "order", "plate": PLATE, "legal_obligation": True, "reason": "court order 123"}],
    )
    (stage,) = runtime.stages_for(camera(privacy="hashed"))
    assert [o.objection_id for o in runtime.objections().items()] == [objection.objection_id]
    events = run_passage(stage, s)
    assert kinds(events) == ["watchlist_match", "plate_passage"]
    assert runtime.store().counts()["hashed"] == 0
    runtime.objections().remove(objection.objection_id)
    run_passage(stage, s)
    assert runtime.store().counts()["hashed"] == 1
    runtime.close()


def test_export_and_erase_a_plate_by_time_window(
    sessions: SessionCache, base_photo: tuple[np.ndarray, BBox], tmp_path: Path, clock: Clock
) -> None:
    """Issue 21 point 6: a keeper's records in a window, exported then erased, crops included."""
    runtime = make_runtime(sessions, tmp_path, clock)
    (stage,) = runtime.stages_for(camera(privacy="full", full_acknowledged=True))
    s = scene(base_photo, PLATE)
    run_passage(stage, s)
    clock.now += 2 * 86400
    run_passage(stage, s)
    run_passage(stage, scene(base_photo, OTHER))
    window = {"since": T0 + 86400, "until": T0 + 3 * 86400}
    records, crops = runtime.plate_records(PLATE, **window)
    assert [(r.seen_at, r.plate) for r in records.sightings] == [(T0 + 2 * 86400, PLATE_TEXT)]
    assert list(crops) == records.crop_ids and len(crops) == 1
    assert runtime.erase_plate(PLATE, **window) == {
        "hashed": 0,
        "reads": 1,
        "matches": 0,
        "crops": 1,
    }
    assert [r.seen_at for r in runtime.plate_records(PLATE)[0].sightings] == [T0]
    assert len(runtime.plate_records(OTHER)[0].sightings) == 1
    runtime.close()
