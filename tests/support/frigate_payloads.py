"""Build Frigate's MQTT payloads as each version (0.14–0.17) publishes them, and replay them.

The shapes follow Frigate's documentation of its MQTT topics (docs/integrations/mqtt.md at each
release) and the `TrackedObject.to_dict()` of each release; tests/fixtures/frigate/mqtt/README.md
lists the differences. `write_fixtures()` regenerates tests/fixtures/frigate/mqtt/<version>/ from
the scenarios below (``python -m tests.support.frigate_payloads``); tests read those files, and
build new objects (other ids, other times) with the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import sys
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "frigate" / "mqtt"
VERSIONS = ("0.14", "0.15", "0.16", "0.17")
T0 = 1718987129.308396
"""Start of the recorded scenarios (Frigate's clock)."""

type Message = tuple[str, Any]
"""(topic, payload): a JSON object, or a string for ``available``."""


def _at_least(version: str, minimum: str) -> bool:
    return tuple(int(p) for p in version.split(".")) >= tuple(int(p) for p in minimum.split("."))


@dataclass(slots=True)
class FrigateObject:
    """One object Frigate tracks, whose successive states become ``frigate/events`` payloads."""

    version: str
    camera: str
    event_id: str
    label: str
    detect_size: tuple[int, int]
    start_time: float
    box_size: tuple[int, int]
    """Box width and height in detect pixels."""
    score: float = 0.84
    zones: list[str] = field(default_factory=list)
    entered: list[str] = field(default_factory=list)
    path: list[tuple[tuple[float, float], float]] = field(default_factory=list)
    plate: tuple[str, float] | None = None
    previous: dict[str, Any] | None = None
    position_changes: int = 0

    def box_at(self, x: float, y: float) -> list[int]:
        """Return the pixel box whose bottom centre is at relative (x, y)."""
        width, height = self.detect_size
        bw, bh = self.box_size
        cx, bottom = round(x * width), round(y * height)
        return [cx - bw // 2, bottom - bh, cx + bw // 2, bottom]

    def state(
        self, frame_time: float, x: float, y: float, *, end: bool = False, stationary: bool = False
    ) -> dict[str, Any]:
        """Return the object's ``after`` dict at one frame, as this version serialises it."""
        box = self.box_at(x, y)
        self._extend_path(frame_time, x, y)
        area = (box[2] - box[0]) * (box[3] - box[1])
        state: dict[str, Any] = {
            "id": self.event_id,
            "camera": self.camera,
            "frame_time": frame_time,
            "snapshot": {
                "frame_time": self.start_time,
                "box": box,
                "area": area,
                "region": _region(box, self.detect_size),
                "score": self.score,
                "attributes": [],
            },
            "label": self.label,
            "sub_label": None,
            "top_score": round(self.score + 0.05, 6),
            "false_positive": False,
            "start_time": self.start_time,
            "end_time": frame_time + 1.2 if end else None,
            "score": self.score,
            "box": box,
            "area": area,
            "ratio": round((box[2] - box[0]) / (box[3] - box[1]), 6),
            "region": _region(box, self.detect_size),
            "active": not stationary,
            "stationary": stationary,
            "motionless_count": 60 if stationary else 0,
            "position_changes": self.position_changes,
            "current_zones": list(self.zones),
            "entered_zones": list(self.entered),
            "has_clip": True,
            "has_snapshot": True,
            "attributes": {},
            "current_attributes": [],
            "pending_loitering": False,
        }
        if _at_least(self.version, "0.14"):
            state["max_severity"] = "alert" if self.label == "person" else "detection"
        if _at_least(self.version, "0.15"):
            moving = 0.0 if stationary else 4.2
            state["current_estimated_speed"] = moving
            state["average_estimated_speed"] = moving
            state["velocity_angle"] = 180 if not stationary else 0
            state["path_data"] = [[list(point), at] for point, at in self.path]
        if _at_least(self.version, "0.16"):
            text, score = self.plate if self.plate else (None, None)
            state["recognized_license_plate"] = text
            state["recognized_license_plate_score"] = score
        if _at_least(self.version, "0.17") and self.label == "person":
            # 0.17 copies object-classification results into the object as extra keys.
            state["person_classifier"] = None
        return state

    def _extend_path(self, frame_time: float, x: float, y: float) -> None:
        """Append a path point as Frigate does: the first, then every 5 % of the diagonal."""
        point = (round(x, 4), round(y, 4))
        width, height = self.detect_size
        threshold = 0.05 * math.hypot(width, height) / max(width, height)
        if not self.path or math.dist(self.path[-1][0], point) >= threshold or len(self.path) == 1:
            self.path.append((point, frame_time))

    def message(self, kind: str, after: dict[str, Any], prefix: str = "frigate") -> Message:
        """Return the ``events`` message of type new/update/end with this ``after``."""
        before = self.previous or after
        self.previous = after
        return (f"{prefix}/events", {"type": kind, "before": before, "after": after})

    def walk(
        self,
        points: Sequence[tuple[float, float, float]],
        *,
        publish_at: Iterable[int],
        end: bool = True,
        prefix: str = "frigate",
    ) -> list[Message]:
        """Move along (time offset, x, y) points; publish at the given indexes (and the end).

        Frigate sees the object on every frame but publishes only some of them: the path
        (0.15+) still records the points in between.
        """
        published = set(publish_at)
        messages: list[Message] = []
        last = len(points) - 1
        for index, (offset, x, y) in enumerate(points):
            ending = end and index == last
            state = self.state(self.start_time + offset, x, y, end=ending)
            if ending:
                messages.append(self.message("end", state, prefix))
            elif index in published:
                messages.append(self.message("new" if not messages else "update", state, prefix))
        return messages


def _region(box: Sequence[int], size: tuple[int, int]) -> list[int]:
    side = min(max(box[2] - box[0], box[3] - box[1], 320), *size)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    x1 = min(max(cx - side // 2, 0), size[0] - side)
    y1 = min(max(cy - side // 2, 0), size[1] - side)
    return [x1, y1, x1 + side, y1 + side]


def description_update(event_id: str) -> Message:
    """Return a GenAI description update (0.15+), which Vigil never reads."""
    return (
        "frigate/tracked_object_update",
        {"type": "description", "id": event_id, "description": "A person walks to the door."},
    )


def face_update(event_id: str, camera: str, at: float) -> Message:
    """Return a face recognition update (0.16+), which Vigil never reads."""
    payload = {"type": "face", "id": event_id, "name": "REDACTED", "score": 0.91}
    return ("frigate/tracked_object_update", payload | {"camera": camera, "timestamp": at})


def plate_update(event_id: str, camera: str, plate: str, score: float, at: float) -> Message:
    """Return a license plate update (0.16+)."""
    payload = {
        "type": "lpr",
        "id": event_id,
        "name": None,
        "plate": plate,
        "score": score,
        "camera": camera,
        "timestamp": at,
    }
    return ("frigate/tracked_object_update", payload)


def classification_update(event_id: str, camera: str, at: float) -> Message:
    """Return an object classification update (0.17+), which Vigil never reads."""
    payload = {
        "type": "classification",
        "id": event_id,
        "camera": camera,
        "timestamp": at,
        "model": "person_classifier",
        "sub_label": "delivery_person",
        "score": 0.87,
    }
    return ("frigate/tracked_object_update", payload)


# The walk: a person comes in on the right of front_door (640×360), walks left along the
# bottom of the picture into the porch zone (x 0.115–0.5) and stops there. A line at x = 0.6
# is crossed once, right to left, between two published messages.
WALK: tuple[tuple[float, float, float], ...] = (
    *((t * 0.5, round(0.88 - 0.06 * t, 4), 0.92) for t in range(10)),
    (6.0, 0.3, 0.92),
    (9.0, 0.3, 0.92),
    (12.0, 0.3, 0.92),
)
WALK_PUBLISHED = (0, 3, 8, 10, 11)
"""Indexes of WALK Frigate publishes: new, a better snapshot, the porch entered, stationary."""
PERSON_ID = "1718987129.308396-k3zq7a"
CAR_ID = "1718987131.912204-p0d4rn"
PLATE = "AB123CD"


def person(version: str, event_id: str = PERSON_ID, start: float = T0) -> FrigateObject:
    """Return the person of the walk on front_door."""
    return FrigateObject(
        version=version,
        camera="front_door",
        event_id=event_id,
        label="person",
        detect_size=(640, 360),
        start_time=start,
        box_size=(48, 130),
    )


def walk_messages(version: str, event_id: str = PERSON_ID, start: float = T0) -> list[Message]:
    """Return the events of the walk as `version` publishes them."""
    walker = person(version, event_id, start)
    messages: list[Message] = []
    for index, (offset, x, y) in enumerate(WALK):
        if x <= 0.5:
            walker.zones = ["porch"]
            walker.entered = ["porch"]
        stationary = index >= 11
        ending = index == len(WALK) - 1
        if index not in WALK_PUBLISHED and not ending:
            walker.state(start + offset, x, y)  # seen, not published: only the path grows
            continue
        state = walker.state(start + offset, x, y, end=ending, stationary=stationary)
        kind = "end" if ending else ("new" if not messages else "update")
        messages.append(walker.message(kind, state))
    return messages


def car_messages(version: str) -> list[Message]:
    """Return a car driving through gate_lpr (0.16+), its plate read by Frigate."""
    car = FrigateObject(
        version=version,
        camera="gate_lpr",
        event_id=CAR_ID,
        label="car",
        detect_size=(1920, 1080),
        start_time=T0 + 2.6,
        box_size=(520, 300),
        score=0.9,
    )
    messages = [car.message("new", car.state(car.start_time, 0.5, 0.35))]
    car.plate = (PLATE, 0.933451)
    messages.append(car.message("update", car.state(car.start_time + 1.0, 0.5, 0.55)))
    messages.append(plate_update(CAR_ID, "gate_lpr", PLATE, 0.933451, car.start_time + 1.0))
    messages.append(car.message("end", car.state(car.start_time + 2.0, 0.5, 0.8), "frigate"))
    return messages


def scenario(version: str) -> list[Message]:
    """Return everything `version` publishes for the recorded scenario, in order."""
    messages: list[Message] = [("frigate/available", "online")]
    walk = walk_messages(version)
    messages += walk[:2]
    if _at_least(version, "0.16"):
        messages += car_messages(version)
        messages.append(face_update(PERSON_ID, "front_door", T0 + 4.0))
    messages += walk[2:]
    if _at_least(version, "0.15"):
        messages.append(description_update(PERSON_ID))
    if _at_least(version, "0.17"):
        messages.append(classification_update(PERSON_ID, "front_door", T0 + 5.0))
    return messages


def load_scenario(version: str) -> list[Message]:
    """Return the recorded scenario of a version from its fixture file."""
    data = json.loads((FIXTURES / version / "scenario.json").read_text())
    return [(item["topic"], item["payload"]) for item in data]


def encode(payload: Any) -> bytes:
    """Return the bytes Frigate puts on the wire for a payload."""
    if isinstance(payload, bytes):
        return payload
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


def write_fixtures() -> None:
    """Regenerate tests/fixtures/frigate/mqtt/<version>/scenario.json."""
    for version in VERSIONS:
        folder = FIXTURES / version
        folder.mkdir(parents=True, exist_ok=True)
        items = [{"topic": topic, "payload": payload} for topic, payload in scenario(version)]
        (folder / "scenario.json").write_text(json.dumps(items, indent=1) + "\n")


if __name__ == "__main__":
    write_fixtures()
    sys.exit(0)
