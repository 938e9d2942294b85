"""Map ONVIF event topics to what Vigil reports: one parser per topic family.

``PARSERS`` is keyed by normalised topic (a trailing ``/*`` registers a prefix, for vendors that
number their rules in the topic). Each parser turns an ``OnvifMessage`` into a ``Reading``; a topic
without a parser still yields a generic reading (that it fired, never its items).

No biometrics, even from the camera: a topic, rule or object class that names a face or a
person's attribute (face detection, face recognition with its Name/Gender/Age items, …) is
dropped outright (`refused`), and only the data items in `DATA_ITEMS` ever reach an event.

Topic families → reading kind → entity:

- VideoSource/MotionAlarm, CellMotionDetector/Motion, MotionRegionDetector/Motion, Hikvision NVR
  and Axis VMD motion → ``motion`` → binary sensor.
- FieldDetector/ObjectsInside, Tapo Intrusion, AXIS Object Analytics and Fence Guard scenarios
  → ``zone_presence`` → binary sensor.
- LineDetector/Crossed, Tapo LineCross, Hanwha WiseAI LineCrossing → ``line_crossing`` → event.
- CountAggregation/Counter → ``object_count`` → sensor.
- Reolink / Dahua SMD / Tapo people, vehicle, pet, package and visitor detectors →
  ``person`` … ``visitor`` → binary sensors. Face detection (Reolink ``FaceDetect``) and face
  recognition (``Recognition/Face``…) topics are refused: no reading, no entity.
- Device/Trigger/DigitalInput, Hikvision AlarmIn, Axis IO port → ``digital_input``;
  Device/Trigger/Relay → ``relay``; AudioAnalytics/Audio/DetectedSound, Axis audio trigger level
  → ``sound``: binary sensors.
- TamperDetector/Tamper, Hikvision VideoCover, Axis Tampering → ``tamper``; ImageTooDark/*,
  ImageTooBright/* → ``too_dark``, ``too_bright``: Vigil's obstruction sensor.
  VideoSource/GlobalSceneChange/* → ``scene_change``: Vigil's orientation-change sensor.
  VideoSource/ImageTooBlurry/* → ``too_blurry``: Vigil's defocus sensor.
- Anything else (Monitoring/*, Avigilon ObjectCrosses, …) → ``onvif_event`` → one event entity
  per topic, carrying no data item.

The camera-health rows use ``vigil_core.health``'s reports, so a camera's tamper alarm and Vigil's
own obstruction check drive one entity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
import math
import re
from typing import Final

from vigil_core.feeds.onvif_messages import MalformedMessage, OnvifMessage
from vigil_core.health.reports import CameraReport
from vigil_core.privacy.purposes import describes_person


class ReadingShape(StrEnum):
    """How a topic's messages behave over time."""

    STATE = "state"
    """A property that turns on and off (``PropertyOperation`` Initialized/Changed)."""
    PULSE = "pulse"
    """A single notification with no end (Axis tampering); held on for a while."""
    INSTANT = "instant"
    """A happening without duration, such as a line crossing."""
    COUNT = "count"
    """A number that changes (count aggregation)."""


class OnvifKind(StrEnum):
    """The kinds of readings, also the ``kind`` of the events they become."""

    MOTION = "motion"
    ZONE = "zone_presence"
    LINE_CROSSING = "line_crossing"
    COUNT = "object_count"
    PERSON = "person"
    VEHICLE = "vehicle"
    ANIMAL = "animal"
    PACKAGE = "package"
    VISITOR = "visitor"
    DIGITAL_INPUT = "digital_input"
    RELAY = "relay"
    SOUND = "sound"
    TAMPER = CameraReport.TAMPER.value
    SCENE_CHANGE = CameraReport.SCENE_CHANGE.value
    TOO_BLURRY = CameraReport.TOO_BLURRY.value
    TOO_DARK = CameraReport.TOO_DARK.value
    TOO_BRIGHT = CameraReport.TOO_BRIGHT.value
    GENERIC = "onvif_event"


MAX_COUNT: Final = 2**53
"""Largest count read (beyond it a float no longer holds every whole number)."""
HEALTH_KINDS: Final = frozenset(report.value for report in CameraReport)
"""Kinds that feed Vigil's camera-health conditions rather than entities of their own."""
LAST_REBOOT_TOPIC: Final = "tns1:Monitoring/OperatingTime/LastReboot"

_TRUE: Final = frozenset({"true", "1", "active", "on", "yes", "triggered"})
_FALSE: Final = frozenset({"false", "0", "inactive", "off", "no", ""})
_RULE_ITEMS: Final = ("Rule", "RuleName")
_TOKEN_ITEMS: Final = (
    "VideoSourceConfigurationToken",
    "VideoSourceToken",
    "Source",
    "VideoSource",
    "InputToken",
    "AlarmInToken",
    "RelayToken",
    "port",
    "channel",
    "AudioSourceConfigurationToken",
)
_OBJECT_ID_ITEMS: Final = ("ObjectId", "objectId")
_CLASS_ITEMS: Final = ("ClassTypes", "classTypes", "ObjectType")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What one notification says, in Vigil's terms."""

    kind: str
    key: str
    """The camera rule, input or video source the notification concerns."""
    label: str
    """How users know that rule or input (the camera's own name for it)."""
    shape: ReadingShape
    active: bool = False
    count: int | None = None
    object_id: int | None = None
    object_class: str | None = None


type Parser = Callable[[OnvifMessage], Reading | None]


@dataclass(frozen=True, slots=True)
class TopicParser:
    """A parser and the kinds of reading it can produce."""

    kinds: tuple[str, ...]
    parse: Parser


class TopicRegistry:
    """Parsers by topic, with prefix entries for topics that end in a rule number."""

    def __init__(self) -> None:
        """Start empty."""
        self._exact: dict[str, TopicParser] = {}
        self._prefixes: dict[str, TopicParser] = {}

    def register(self, *topics: str, kinds: tuple[str, ...]) -> Callable[[Parser], Parser]:
        """Register the decorated parser for ``topics`` (``…/*`` registers a prefix)."""

        def decorate(parse: Parser) -> Parser:
            entry = TopicParser(kinds, parse)
            for topic in topics:
                if topic.endswith("/*"):
                    self._prefixes[topic[:-1]] = entry
                else:
                    self._exact[topic] = entry
            return parse

        return decorate

    def get(self, topic: str) -> TopicParser | None:
        """Return the parser of a normalised topic, or None for a topic Vigil does not know."""
        entry = self._lookup(topic)
        prefix, _, rest = topic.partition(":")
        if entry is None and rest and prefix not in _VENDOR_PREFIXES:
            # A camera may bind the ONVIF topic namespace to another prefix.
            entry = self._lookup(f"tns1:{rest}")
        return entry

    def kinds_of(self, topic: str) -> tuple[str, ...]:
        """Return the reading kinds a topic produces (generic when unknown, none when refused)."""
        if refused(topic):
            return ()
        entry = self.get(topic)
        return entry.kinds if entry is not None else (OnvifKind.GENERIC.value,)

    def parse(self, message: OnvifMessage) -> Reading | None:
        """Return the reading of a message, generic for unknown topics (raises MalformedMessage).

        None for a message Vigil drops: a refused topic, a rule or an object class that
        describes a person, or a property change that is no news.
        """
        if refused(message.topic) or refused(instance_label(message)):
            return None
        entry = self.get(message.topic)
        if entry is None:
            return _generic(message)
        reading = entry.parse(message)
        if reading is not None and reading.object_class and refused(reading.object_class):
            return None
        return reading

    @property
    def topics(self) -> tuple[str, ...]:
        """Return every registered topic (prefix entries end with ``*``)."""
        return (*self._exact, *(f"{prefix}*" for prefix in self._prefixes))

    def _lookup(self, topic: str) -> TopicParser | None:
        entry = self._exact.get(topic)
        if entry is not None:
            return entry
        for prefix, candidate in self._prefixes.items():
            if topic.startswith(prefix):
                return candidate
        return None


_VENDOR_PREFIXES: Final = frozenset({"tnsaxis", "tnshik", "tnsavg", "tnssamsung"})
PARSERS: Final = TopicRegistry()


def _state(message: OnvifMessage, kind: str, *names: str) -> Reading:
    """Return the on/off reading of a property topic from its first matching data item."""
    return Reading(
        kind=kind,
        key=instance_key(message),
        label=instance_label(message),
        shape=ReadingShape.STATE,
        active=flag(item(message.data, *names)),
        object_id=_object_id(message),
        object_class=_first(message.data, *_CLASS_ITEMS) or None,
    )


@PARSERS.register(
    "tns1:VideoSource/MotionAlarm",
    "tns1:RuleEngine/CellMotionDetector/Motion",
    "tns1:RuleEngine/MotionRegionDetector/Motion",
    "tns1:VideoAnalytics/MotionAlarm",
    "tns1:VideoAnalytics/tnshik:MotionAlarm",
    "tns1:VideoAnalytics/tnssamsung:MotionDetection",
    "tns1:VideoAnalytics/tnsaxis:MotionDetection",
    "tns1:Device/Trigger/MotionDetector",
    "tns1:RuleEngine/tnsaxis:VMD3/*",
    "tnsaxis:CameraApplicationPlatform/VMD/*",
    kinds=(OnvifKind.MOTION,),
)
def _parse_motion(message: OnvifMessage) -> Reading:
    """Read a motion detector: ``State``, ``IsMotion``, ``active`` (Axis) or ``Motion``."""
    return _state(message, OnvifKind.MOTION, "State", "IsMotion", "active", "Motion")


@PARSERS.register(
    "tns1:RuleEngine/FieldDetector/ObjectsInside",
    "tns1:RuleEngine/MyRuleDetector/ObjectsInside",
    "tns1:RuleEngine/CellMotionDetector/Intrusion",
    "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/*",
    "tnsaxis:CameraApplicationPlatform/FenceGuard/*",
    kinds=(OnvifKind.ZONE,),
)
def _parse_zone(message: OnvifMessage) -> Reading:
    """Read an intrusion/field rule: objects inside the camera's own zone."""
    return _state(message, OnvifKind.ZONE, "IsInside", "IsIntrusion", "active", "State")


@PARSERS.register("tns1:RuleEngine/LineDetector/Crossed", kinds=(OnvifKind.LINE_CROSSING,))
def _parse_line_crossed(message: OnvifMessage) -> Reading:
    """Read an ONVIF line crossing; Bosch sends it with no data at all."""
    return Reading(
        kind=OnvifKind.LINE_CROSSING,
        key=instance_key(message),
        label=instance_label(message),
        shape=ReadingShape.INSTANT,
        object_id=_object_id(message),
        object_class=_first(message.data, *_CLASS_ITEMS) or None,
    )


@PARSERS.register(
    "tns1:RuleEngine/LineCrossDetector/LineCross",
    "tns1:RuleEngine/CellMotionDetector/LineCross",
    "tns1:OpenApp/WiseAI/LineCrossing",
    kinds=(OnvifKind.LINE_CROSSING,),
)
def _parse_line_cross_state(message: OnvifMessage) -> Reading | None:
    """Read a line crossing some vendors send as a property: a crossing is it turning true."""
    if message.initialized or not flag(item(message.data, "IsLineCross", "State")):
        return None
    return _parse_line_crossed(message)


@PARSERS.register("tns1:RuleEngine/CountAggregation/Counter", kinds=(OnvifKind.COUNT,))
def _parse_counter(message: OnvifMessage) -> Reading:
    """Read a count aggregation rule's current count."""
    raw = item(message.data, "Count", "count", "Value")
    count = _count(raw)
    if count is None:
        raise MalformedMessage(f"{message.topic}: count {raw[:40]!r} is not a count")
    return Reading(
        kind=OnvifKind.COUNT,
        key=instance_key(message),
        label=instance_label(message),
        shape=ReadingShape.COUNT,
        count=count,
    )


def _object_detector(kind: OnvifKind) -> Parser:
    """Return the parser of a vendor object detector (Reolink, Dahua SMD, Tapo)."""

    def parse(message: OnvifMessage) -> Reading:
        return _state(message, kind, "State", "IsPeople", "IsVehicle", "IsPet", "active")

    parse.__doc__ = f"Read a camera-side {kind.value} detector."
    return parse


for _kind, _topics in {
    OnvifKind.PERSON: (
        "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
        "tns1:RuleEngine/MyRuleDetector/HumanDetect",
        "tns1:RuleEngine/PeopleDetector/People",
        "tns1:RuleEngine/CellMotionDetector/People",
        "tns1:UserAlarm/IVA/HumanShapeDetect",
    ),
    OnvifKind.VEHICLE: ("tns1:RuleEngine/MyRuleDetector/VehicleDetect",),
    OnvifKind.ANIMAL: ("tns1:RuleEngine/MyRuleDetector/DogCatDetect",),
    OnvifKind.PACKAGE: ("tns1:RuleEngine/MyRuleDetector/Package",),
    OnvifKind.VISITOR: ("tns1:RuleEngine/MyRuleDetector/Visitor",),
}.items():
    PARSERS.register(*_topics, kinds=(_kind,))(_object_detector(_kind))

_SMART_EVENT_ITEMS: Final = {
    "IsPeople": OnvifKind.PERSON,
    "IsVehicle": OnvifKind.VEHICLE,
    "IsPet": OnvifKind.ANIMAL,
}


@PARSERS.register(
    "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent",
    "tns1:RuleEngine/CellMotionDetector/TpSmartEvent",
    kinds=tuple(_SMART_EVENT_ITEMS.values()),
)
def _parse_tapo_smart_event(message: OnvifMessage) -> Reading:
    """Read a Tapo smart event, whose data item names the object class."""
    for name, kind in _SMART_EVENT_ITEMS.items():
        if name in message.data:
            return _state(message, kind, name)
    raise MalformedMessage(f"{message.topic}: no IsPeople/IsVehicle/IsPet item")


@PARSERS.register(
    "tns1:Device/Trigger/DigitalInput",
    "tns1:Device/Trigger/tnshik:AlarmIn",
    "tns1:Device/tnsaxis:IO/Port",
    kinds=(OnvifKind.DIGITAL_INPUT,),
)
def _parse_digital_input(message: OnvifMessage) -> Reading:
    """Read a digital input (alarm input) state."""
    return _state(message, OnvifKind.DIGITAL_INPUT, "LogicalState", "State", "state")


@PARSERS.register("tns1:Device/Trigger/Relay", kinds=(OnvifKind.RELAY,))
def _parse_relay(message: OnvifMessage) -> Reading:
    """Read a relay output state (``active`` / ``inactive``)."""
    return _state(message, OnvifKind.RELAY, "LogicalState", "State")


@PARSERS.register(
    "tns1:AudioAnalytics/Audio/DetectedSound",
    "tns1:AudioSource/tnsaxis:TriggerLevel",
    kinds=(OnvifKind.SOUND,),
)
def _parse_sound(message: OnvifMessage) -> Reading:
    """Read a sound detector."""
    return _state(message, OnvifKind.SOUND, "IsSoundDetected", "State", "triggered")


@PARSERS.register(
    "tns1:RuleEngine/TamperDetector/Tamper",
    "tns1:RuleEngine/CellMotionDetector/Tamper",
    "tns1:UserAlarm/VideoCover",
    "tns1:VideoAnalytics/tnssamsung:TamperingDetection",
    kinds=(OnvifKind.TAMPER,),
)
def _parse_tamper(message: OnvifMessage) -> Reading:
    """Read a tamper (covered or blocked lens) alarm."""
    return _state(message, OnvifKind.TAMPER, "IsTamper", "State", "Level", "detected")


@PARSERS.register("tns1:VideoSource/tnsaxis:Tampering", kinds=(OnvifKind.TAMPER,))
def _parse_axis_tampering(message: OnvifMessage) -> Reading:
    """Read Axis tampering: one stateless notification with a level, held on for a while."""
    level = item(message.data, "tampering")
    return Reading(
        kind=OnvifKind.TAMPER,
        key=instance_key(message),
        label=instance_label(message),
        shape=ReadingShape.PULSE,
        active=level.strip() not in _FALSE,
    )


def _image_condition(kind: OnvifKind) -> Parser:
    """Return the parser of a VideoSource image-quality or scene-change alarm."""

    def parse(message: OnvifMessage) -> Reading:
        return _state(message, kind, "State", "IsTooBlurry", "IsTooDark", "IsTooBright")

    parse.__doc__ = f"Read the camera's {kind.value} alarm."
    return parse


for _kind, _family in {
    OnvifKind.SCENE_CHANGE: "GlobalSceneChange",
    OnvifKind.TOO_BLURRY: "ImageTooBlurry",
    OnvifKind.TOO_DARK: "ImageTooDark",
    OnvifKind.TOO_BRIGHT: "ImageTooBright",
}.items():
    PARSERS.register(
        *(
            f"tns1:VideoSource/{_family}/{service}"
            for service in ("AnalyticsService", "ImagingService", "RecordingService")
        ),
        kinds=(_kind,),
    )(_image_condition(_kind))


def _generic(message: OnvifMessage) -> Reading:
    """Return the reading of a topic Vigil has no parser for: an instant with its items."""
    return Reading(
        kind=OnvifKind.GENERIC,
        key=message.topic,
        label=instance_label(message),
        shape=ReadingShape.INSTANT,
    )


_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

DATA_ITEMS: Final = frozenset(
    name.lower()
    for name in (
        # on/off states
        "State", "IsMotion", "Motion", "active", "IsInside", "IsIntrusion", "IsLineCross",
        "IsPeople", "IsVehicle", "IsPet", "LogicalState", "IsSoundDetected", "triggered",
        "IsTamper", "Level", "detected", "tampering", "IsTooBlurry", "IsTooDark", "IsTooBright",
        # counts, object ids and classes
        "Count", "Value", "ObjectId", "ClassTypes", "ObjectType",
    )
)  # fmt: skip
"""The data items an event may carry, and only for a topic Vigil parses: states, counts, an
object's id and class. A camera's other items (a recognised Name, a Gender, an Age…) never pass."""
SOURCE_ITEMS: Final = frozenset(name.lower() for name in (*_RULE_ITEMS, *_TOKEN_ITEMS))
"""The source items an event may carry: which rule, input or video source it concerns."""


def refused(text: str) -> bool:
    """Return whether a topic, rule name or class describes a face or a person's attribute.

    The text is cut into words (``tns1:RuleEngine/Recognition/Face`` → rule, engine,
    recognition, face) and each word checked against the biometric terms.
    """
    words = [word.lower() for word in _WORD.findall(text.partition(":")[2] or text)]
    return any(describes_person(word) for word in words)


def allowed_items(items: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """Return the items whose names are in `allowed` (compared without case)."""
    return {name: value for name, value in items.items() if name.lower() in allowed}


def flag(value: str) -> bool:
    """Return a boolean item's value: ``true``/``1``/``active``… (any case) or their opposites."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MalformedMessage(f"{value!r} is not a boolean")


def item(items: Mapping[str, str], *names: str) -> str:
    """Return the first of ``names`` present in ``items``; the only item when none matches."""
    value = _first(items, *names)
    if value is not None:
        return value
    if len(items) == 1:
        return next(iter(items.values()))
    raise MalformedMessage(f"no {'/'.join(names)} item in {sorted(items)}")


def instance_key(message: OnvifMessage) -> str:
    """Return what distinguishes rules of one topic: the rule name, a token, or the topic tail."""
    return _first(message.source, *_RULE_ITEMS, *_TOKEN_ITEMS) or message.topic.rpartition("/")[2]


def instance_label(message: OnvifMessage) -> str:
    """Return the camera's own name for the rule or input (its key when it has none)."""
    return _first(message.source, *_RULE_ITEMS) or instance_key(message)


def _count(raw: str) -> int | None:
    """Return a whole, finite, non-negative count (``4``, ``4.0``); None for anything else."""
    try:
        value = float(raw)
    except ValueError:
        return None
    # float() reads "1e999" and "inf" as infinity, which int() cannot convert.
    if not math.isfinite(value) or value < 0 or value > MAX_COUNT:
        return None
    return int(value)


def _object_id(message: OnvifMessage) -> int | None:
    """Return the object id a message carries in its key or data, if any."""
    raw = _first(message.key, *_OBJECT_ID_ITEMS) or _first(message.data, *_OBJECT_ID_ITEMS)
    text = (raw or "").strip().removeprefix("-")
    # Only ASCII digits: "²" passes isdigit() but not int(); 18 digits fit an int64.
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        return None
    return int((raw or "").strip())


def _first(items: Mapping[str, str], *names: str) -> str | None:
    """Return the value of the first name present (names compare without case)."""
    folded = {name.lower(): value for name, value in items.items()}
    for name in names:
        value = folded.get(name.lower())
        if value is not None:
            return value
    return None
