"""No biometrics, ever: Vigil describes a person by class, position, speed and dwell only.

The real pipeline (detector, tracker, every rule family, the camera-health checks) runs on
the PETS2009 clip, and every event attribute it publishes must be in the reviewed allow-list
(`EVENT_ATTRIBUTES`) and name nothing biometric. The typed values that cross the pipeline are
walked field by field, and the model registry refuses every biometric role.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
import dataclasses
from datetime import UTC, datetime, timedelta
import time
from typing import Any

import av
import pytest

from tests.support.shared import MODELS_DIR, media
from vigil_core.config import CameraSpec, DetectorSpec, InferenceSpec, SourceSpec, TrackerSpec
from vigil_core.errors import ModelRoleRefused
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent
from vigil_core.inference.batcher import InferenceBatcher
from vigil_core.inference.detectors import build_detector
from vigil_core.inference.registry import ModelRole, default_registry, parse_model
from vigil_core.inference.session import SessionCache
from vigil_core.pipeline import CameraPipeline
from vigil_core.privacy.purposes import BIOMETRIC_TERMS, EVENT_ATTRIBUTES, describes_person
from vigil_core.types import BBox, Detection, Frame, RGBImage, Track

FRAMES = 240
STEP = 2
LEFT = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
RIGHT = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def camera() -> CameraSpec:
    """vtest with every rule family, thresholds low enough that they fire on a short clip."""
    return CameraSpec.model_validate(
        {
            "id": "vtest",
            "source": SourceSpec(url="vtest.avi"),
            "fps": 5.0,
            "zones": [
                {"id": "left", "polygon": LEFT, "inertia": 2},
                {"id": "right", "polygon": RIGHT, "inertia": 2, "min_dwell_s": 1.0},
            ],
            "rules": [
                {"type": "line_crossing", "id": "middle", "line": [[0.5, 0.0], [0.5, 1.0]]},
                {"type": "loitering", "id": "linger", "polygon": WHOLE, "dwell_s": 3.0},
                {
                    "type": "crowd",
                    "id": "crowd",
                    "polygon": WHOLE,
                    "high": 2,
                    "critical": 4,
                    "hold_s": 0.5,
                    "movement": {"min_people": 2, "speedup_factor": 1.5},
                },
                {"type": "fast_move", "id": "fast", "speed_px_s": 15.0, "min_duration_s": 0.2},
                {
                    "type": "wrong_way",
                    "id": "wrong",
                    "polygon": WHOLE,
                    "direction": [[0.0, 0.5], [1.0, 0.5]],
                    "min_distance": 0.02,
                },
                {"type": "object_left", "id": "left-behind", "detect": ["left", "removed"]},
                {"type": "route", "id": "across", "zones": ["left", "right"], "max_step_s": 60},
            ],
        }
    )


def first_frames(count: int) -> list[tuple[float, RGBImage]]:
    frames: list[tuple[float, RGBImage]] = []
    with av.open(str(media("vtest.avi"))) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if index >= count:
                break
            image: RGBImage = frame.to_ndarray(format="rgb24")  # type: ignore[assignment]
            frames.append((index / 10.0, image))
    return frames


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[list[RuleEvent], list[Track]]]:
    """Run the pipeline over the clip; yield its rule events and every track it reported."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    frames = first_frames(FRAMES)
    detector = build_detector(DetectorSpec(), InferenceSpec(), SessionCache(), MODELS_DIR)
    batcher = InferenceBatcher(detector, workers=1, max_batch=1, max_wait_ms=0)
    events: list[VigilEvent] = []
    spec = camera()
    analyzers = []
    try:
        from vigil_core.health.tamper import TamperAnalyzer  # noqa: PLC0415 - optional stage

        analyzers.append(TamperAnalyzer(spec.id, spec.tamper, fps=spec.fps))
    except ImportError:  # pragma: no cover - the health stage is not in this tree yet
        pass
    pipeline = CameraPipeline(
        spec,
        batcher=batcher,
        tracker_spec=TrackerSpec(),
        publish=events.append,
        analyzers=analyzers,
    )
    tracks: list[Track] = []
    try:
        for index in range(0, len(frames), STEP):
            pts, image = frames[index]
            size = (image.shape[1], image.shape[0])
            pipeline.process(Frame(spec.id, index, pts, time.monotonic(), image, size))
            assert pipeline.latest is not None
            tracks += pipeline.latest.tracks
    finally:
        batcher.close()
    yield [e for e in events if isinstance(e, RuleEvent)], tracks


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted key path, leaf) through nested mappings and sequences."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            yield from walk(item, path)
    else:
        yield path, value


def test_the_clip_exercises_many_rule_families(run: tuple[list[RuleEvent], list[Track]]) -> None:
    events, tracks = run
    kinds = {event.kind for event in events}
    assert len(kinds) >= 5, kinds
    assert {"zone_presence", "line_crossing", "crowd"} <= kinds
    assert len({t.track_id for t in tracks}) >= 5


def test_every_event_attribute_is_class_position_speed_dwell_or_count(
    run: tuple[list[RuleEvent], list[Track]],
) -> None:
    events, _tracks = run
    seen: set[str] = set()
    for event in events:
        for key in event.attrs:
            seen.add(key)
            assert key in EVENT_ATTRIBUTES, f"{event.kind} event has unreviewed attribute {key!r}"
        for path, leaf in walk(dict(event.attrs)):
            # Nested keys are labels, directions or rule names: none may be biometric either.
            for part in path.split("."):
                assert not describes_person(part), f"{event.kind}: {path}"
            if isinstance(leaf, str):
                assert not describes_person(leaf), f"{event.kind}: {path}={leaf!r}"
    assert {"label", "position", "count"} <= seen
    assert not any(describes_person(key) for key in EVENT_ATTRIBUTES)


def test_event_and_track_values_carry_nothing_biometric(
    run: tuple[list[RuleEvent], list[Track]],
) -> None:
    _events, tracks = run
    assert {f.name for f in dataclasses.fields(Track)} <= {
        "track_id",  # an id that lives only while the object is in view
        "bbox",  # position
        "label",  # class
        "score",
        "state",
        "velocity",  # speed
        "first_seen_s",  # dwell
        "last_seen_s",
        "hits",
        "matched",
        "history",  # recent positions
        "plate",  # a vehicle's plate read (ANPR), never a person's
    }
    assert {f.name for f in dataclasses.fields(Detection)} == {"bbox", "score", "class_id", "label"}
    assert {f.name for f in dataclasses.fields(BBox)} == {"x1", "y1", "x2", "y2"}
    assert {f.name for f in dataclasses.fields(RuleEvent)} == {
        "kind", "camera_id", "rule_id", "track_id", "phase", "at_s", "frame_index",
        "wall_time", "latency_s", "source", "attrs",
    }  # fmt: skip
    for cls in (Track, Detection, BBox, RuleEvent, Frame):
        for f in dataclasses.fields(cls):
            assert not describes_person(f.name), f"{cls.__name__}.{f.name}"
    assert {t.label for t in tracks} <= {"person", "bicycle", "car", "motorcycle", "bus", "truck"}


@pytest.mark.parametrize(
    "role",
    [
        "face_recognition",
        "face_detection",
        "face_embedding",
        "person_reid",
        "person_attributes",
        "age_gender",
        "clothing_attributes",
        "gait_recognition",
        "emotion",
    ],
)
def test_the_model_registry_refuses_biometric_roles(role: str) -> None:
    entry = {
        "name": "m",
        "role": role,
        "architecture": "yolox",
        "licence": "MIT",
        "file": "m.onnx",
        "sha256": "0" * 64,
        "url": None,
        "source": "test",
        "input": {},
        "labels": ["x"],
    }
    with pytest.raises(ModelRoleRefused, match="nothing biometric"):
        parse_model(entry)


def test_model_roles_are_an_allow_list_of_non_biometric_roles() -> None:
    assert {role.value for role in ModelRole} == {
        "object_detection",
        "person_detection",
        "plate_detection",
        "plate_ocr",
    }
    assert all(not describes_person(role.value) for role in ModelRole)
    assert {model.role for model in default_registry()} <= set(ModelRole)
    assert "face" in BIOMETRIC_TERMS and describes_person("face_id")
    assert describes_person("upper_clothing_colour") and describes_person("reid_embedding")
    assert not describes_person("track_ids") and not describes_person("max_dwell_s")


# --- camera-side analytics: Frigate's tracks and plates, ONVIF topics -------------------------

PORCH = [[0.115, 0.6], [0.5, 0.6], [0.5, 1.0], [0.115, 1.0]]


def _frigate_run(
    spec: CameraSpec, camera_name: str, version: str, stages: list[Any] | None = None
) -> list[RuleEvent]:
    """Feed a recorded Frigate scenario through a pipeline taking its tracks from Frigate."""
    from tests.core.test_frigate_tracks import Clock, frame, messages  # noqa: PLC0415
    from tests.support.frigate_payloads import T0  # noqa: PLC0415
    from vigil_core.feeds.frigate_tracks import FrigateTrackFeed  # noqa: PLC0415
    from vigil_core.privacy.masks import PrivacyMasks  # noqa: PLC0415
    from vigil_core.rules import build_rules  # noqa: PLC0415

    assert spec.frigate is not None
    plate_stage = (stages or [None])[0]
    feed = FrigateTrackFeed(
        spec.id,
        spec.frigate,
        plate_sink=plate_stage.receive if plate_stage is not None else None,
        masks=PrivacyMasks(spec.privacy_masks),
        clock=Clock(T0 + 20),
    )
    events: list[RuleEvent] = []
    run = CameraPipeline(
        spec,
        batcher=None,
        tracker_spec=TrackerSpec(),
        publish=lambda e: events.append(e) if isinstance(e, RuleEvent) else None,
        rules=build_rules(spec),
        track_stages=stages or [],
        track_provider=feed,
    )
    for message in messages(version, camera_name):
        feed.receive(message)
        run.process(frame())
    for _ in range(4):
        run.process(frame())
    return events


def _frigate_camera(masks: list[list[list[float]]], **extra: Any) -> CameraSpec:
    from tests.core.test_frigate_tracks import camera as frigate_camera  # noqa: PLC0415

    return frigate_camera(privacy_masks=masks, **extra)


@pytest.mark.parametrize("version", ["0.14", "0.17"])
def test_a_person_inside_a_mask_on_a_frigate_track_triggers_nothing(version: str) -> None:
    """Masks apply to tracks Frigate provides, as they do to pixels Vigil analyses."""
    unmasked = _frigate_run(_frigate_camera([]), "front_door", version)
    assert [e.phase for e in unmasked if e.kind == "zone_presence"] == [
        EventPhase.STARTED,
        EventPhase.ENDED,
    ]
    masked = _frigate_run(_frigate_camera([PORCH]), "front_door", version)
    assert [e for e in masked if e.kind == "zone_presence"] == []


def test_a_plate_frigate_reads_inside_a_mask_is_dropped() -> None:
    from vigil_core.anpr.runtime import AnprRuntime  # noqa: PLC0415
    from vigil_core.config import AnprSettings  # noqa: PLC0415
    from vigil_core.feeds.frigate_tracks import FrigatePlateStage  # noqa: PLC0415
    from vigil_core.inference.session import SessionCache  # noqa: PLC0415

    entry = {
        "id": "w",
        "plate": "AB-123-CD",
        "reason": "stolen vehicle report",
        "expires": (datetime.now(UTC) + timedelta(days=7)).date().isoformat(),
    }
    settings = AnprSettings.model_validate({"watchlist": {"entries": [entry]}})
    anpr = {"enabled": True, "privacy": "watchlist"}
    kinds = {}
    for name, masks in (("open", []), ("masked", [WHOLE])):
        runtime = AnprRuntime(settings, sessions=SessionCache(), purge_interval_s=0)
        try:
            spec = _frigate_camera(masks, anpr=anpr, frigate={
                "camera": "gate_lpr", "detect_size": [1920, 1080]
            })  # fmt: skip
            stage = FrigatePlateStage(spec.id, spec.anpr, runtime)
            events = _frigate_run(spec, "gate_lpr", "0.16", [stage])
            kinds[name] = [e.kind for e in events if e.rule_id == "anpr"]
        finally:
            runtime.close()
    assert kinds == {"open": ["watchlist_match", "plate_passage"], "masked": []}


def test_frigate_objects_labelled_as_faces_are_never_tracks() -> None:
    from tests.support.frigate_payloads import encode, person  # noqa: PLC0415
    from vigil_core.feeds.frigate_mqtt import parse_message  # noqa: PLC0415

    walker = person("0.16")
    _topic, payload = walker.message("new", walker.state(walker.start_time, 0.5, 0.9))
    assert parse_message("events", encode(payload)) is not None
    payload["after"]["label"] = "face"
    assert parse_message("events", encode(payload)) is None
