"""Flatten ONVIF event notifications and topic sets into plain, typed values.

onvif-zeep-async hands a ``PullMessages`` reply over as zeep objects, but a payload zeep cannot
resolve against the schema (vendor elements, the single-layer ``Message`` some firmwares send)
stays an lxml element. Both shapes become one ``OnvifMessage`` here, so the topic parsers never
touch zeep. Anything that cannot be read raises ``MalformedMessage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
import datetime as dt
from types import MappingProxyType
from typing import Any, Final

from vigil_core.errors import MalformedInput

ONVIF_TOPICS_NS: Final = "http://www.onvif.org/ver10/topics"
WSTOP_NS: Final = "http://docs.oasis-open.org/wsn/t-1"
TT_NS: Final = "http://www.onvif.org/ver10/schema"
# The prefixes topics are written with, by namespace; cameras declare them in every reply.
TOPIC_PREFIXES: Final = MappingProxyType(
    {
        ONVIF_TOPICS_NS: "tns1",
        "http://www.hikvision.com/2011/event/topics": "tnshik",
        "http://www.axis.com/2009/event/topics": "tnsaxis",
        "http://www.avigilon.com/onvif/ver10/topics": "tnsavg",
        "http://www.samsungcctv.com/2011/event/topics": "tnssamsung",
    }
)
_MAX_ITEM_CHARS: Final = 512


class MalformedMessage(MalformedInput):
    """A notification that cannot be read: no topic, no payload, or items without values."""

    translation_key = "malformed_message"


@dataclass(frozen=True, slots=True)
class OnvifMessage:
    """One camera notification: its topic, time, property operation and simple items."""

    topic: str
    """Normalised topic, such as ``tns1:RuleEngine/FieldDetector/ObjectsInside``."""
    utc_time: dt.datetime | None = None
    operation: str | None = None
    """``Initialized``, ``Changed`` or ``Deleted`` for property events; None for plain events."""
    source: Mapping[str, str] = field(default_factory=dict)
    key: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)

    @property
    def initialized(self) -> bool:
        """Return whether this is the state a property had when the subscription began."""
        return (self.operation or "").lower() == "initialized"


def normalize_topic(text: str) -> str:
    """Return a topic without whitespace, wildcards or repeated prefixes.

    Cameras write the same topic several ways: ``tns1:RuleEngine/CellMotionDetector/Motion//.``
    (a ConcreteSet wildcard), ``tns1:Device/tns1:Trigger/tns1:Relay`` (Avigilon qualifies every
    segment) and ``tns1:VideoSource/tns1:Device/Trigger/DigitalInput`` (Dahua/Imou firmware puts
    the real topic after a stray ``VideoSource``).
    """
    topic = "".join(text.split()).rstrip("/.")
    segments = [segment for segment in topic.split("/") if segment]
    if not segments:
        return ""
    root_prefix = segments[0].partition(":")[0] if ":" in segments[0] else ""
    if root_prefix and len(segments) > 1:
        qualified = [i for i, s in enumerate(segments) if i and s.startswith(f"{root_prefix}:")]
        if len(qualified) == len(segments) - 1:
            segments = [segments[0]] + [s.partition(":")[2] for s in segments[1:]]
        elif qualified:
            segments = segments[qualified[-1] :]
    return "/".join(segments)


def message_from_zeep(holder: Any) -> OnvifMessage:
    """Flatten a ``wsnt:NotificationMessage`` as zeep parsed it."""
    topic_node = getattr(holder, "Topic", None)
    raw_topic = getattr(topic_node, "_value_1", topic_node)
    if not isinstance(raw_topic, str) or not normalize_topic(raw_topic):
        raise MalformedMessage("notification without a topic")
    wrapper = getattr(holder, "Message", None)
    payload = getattr(wrapper, "_value_1", None)
    if payload is None:
        raise MalformedMessage(f"{normalize_topic(raw_topic)}: notification without a message")
    if _is_element(payload):
        return message_from_element(raw_topic, payload)
    return OnvifMessage(
        topic=normalize_topic(raw_topic),
        utc_time=_as_datetime(getattr(payload, "UtcTime", None)),
        operation=_as_text(getattr(payload, "PropertyOperation", None)),
        source=_zeep_items(getattr(payload, "Source", None)),
        key=_zeep_items(getattr(payload, "Key", None)),
        data=_zeep_items(getattr(payload, "Data", None)),
    )


def notification_from_element(element: Any) -> OnvifMessage:
    """Flatten a ``wsnt:NotificationMessage`` lxml element (recorded samples, raw replies)."""
    topic_node = _child(element, "Topic")
    raw_topic = "" if topic_node is None else "".join(topic_node.itertext())
    if not normalize_topic(raw_topic):
        raise MalformedMessage("notification without a topic")
    wrapper = _child(element, "Message")
    payload = None if wrapper is None else _child(wrapper, "Message")
    if payload is None:
        raise MalformedMessage(f"{normalize_topic(raw_topic)}: notification without a message")
    return message_from_element(raw_topic, payload)


def message_from_element(raw_topic: str, payload: Any) -> OnvifMessage:
    """Flatten a ``tt:Message`` lxml element published on ``raw_topic``."""
    # Some firmwares wrap the tt:Message once more; the inner one carries the items.
    inner = _child(payload, "Message")
    if inner is not None:
        payload = inner
    return OnvifMessage(
        topic=normalize_topic(raw_topic),
        utc_time=_as_datetime(payload.get("UtcTime")),
        operation=payload.get("PropertyOperation"),
        source=_element_items(_child(payload, "Source")),
        key=_element_items(_child(payload, "Key")),
        data=_element_items(_child(payload, "Data")),
    )


def topics_from_topic_set(nodes: Iterable[Any]) -> tuple[str, ...]:
    """Return every topic a ``wstop:TopicSet`` declares (elements marked ``wstop:topic``)."""
    found: list[str] = []
    for node in nodes:
        if _is_element(node):
            found.extend(_walk_topics(node, root_ns=_namespace(node), path=()))
    return tuple(dict.fromkeys(normalize_topic(topic) for topic in found))


def _walk_topics(node: Any, *, root_ns: str, path: tuple[str, ...]) -> Iterator[str]:
    """Yield the topics below ``node``; ``path`` holds the segments above it."""
    if _local(node.tag) == "MessageDescription":
        return
    segment = _segment(node, root_ns=root_ns, first=not path)
    here = (*path, segment)
    if (node.get(f"{{{WSTOP_NS}}}topic") or "").lower() == "true":
        yield "/".join(here)
    for child in node:
        if _is_element(child):
            yield from _walk_topics(child, root_ns=root_ns, path=here)


def _segment(node: Any, *, root_ns: str, first: bool) -> str:
    """Return a topic segment: qualified at the root, and wherever a vendor namespace starts."""
    name = _local(node.tag)
    namespace = _namespace(node)
    if not namespace or (namespace == root_ns and not first):
        return name
    prefix = TOPIC_PREFIXES.get(namespace) or node.prefix or "ns"
    return f"{prefix}:{name}"


def _zeep_items(item_list: Any) -> Mapping[str, str]:
    """Return an ``tt:ItemList``'s simple items (and element items as text) by name."""
    if item_list is None:
        return MappingProxyType({})
    items: dict[str, str] = {}
    for simple in getattr(item_list, "SimpleItem", None) or ():
        name, value = getattr(simple, "Name", None), getattr(simple, "Value", None)
        items[_required(name, "item without a name")] = _required(value, f"{name} has no value")
    for element in getattr(item_list, "ElementItem", None) or ():
        name = _required(getattr(element, "Name", None), "element item without a name")
        items[name] = _element_text(getattr(element, "_value_1", None))
    return MappingProxyType(items)


def _element_items(item_list: Any) -> Mapping[str, str]:
    """Return an ``tt:ItemList`` element's simple items (and element items as text) by name."""
    if item_list is None:
        return MappingProxyType({})
    items: dict[str, str] = {}
    for child in item_list:
        if not _is_element(child):
            continue
        kind = _local(child.tag)
        name = _required(child.get("Name"), "item without a name")
        if kind == "SimpleItem":
            items[name] = _required(child.get("Value"), f"{name} has no value")
        elif kind == "ElementItem":
            items[name] = _element_text(child[0] if len(child) else None)
    return MappingProxyType(items)


def _element_text(element: Any) -> str:
    """Return an element item's content as compact XML text (bounded in size)."""
    if element is None or not _is_element(element):
        return ""
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    text: str = etree.tostring(element, encoding="unicode")
    return text[:_MAX_ITEM_CHARS]


def _required(value: Any, problem: str) -> str:
    """Return ``value`` as text, or raise MalformedMessage when it is missing."""
    if value is None:
        raise MalformedMessage(problem)
    return str(value)


def _as_datetime(value: Any) -> dt.datetime | None:
    """Return a UTC datetime from zeep's value or the attribute text; None when unreadable."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        # Hikvision sends 0000-00-00T00:00:00Z before its clock is set.
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _as_text(value: Any) -> str | None:
    """Return a zeep attribute as text, None when absent."""
    return None if value is None else str(value)


def _child(element: Any, local: str) -> Any:
    """Return the first child element with this local name, whatever its namespace."""
    for child in element:
        if _is_element(child) and _local(child.tag) == local:
            return child
    return None


def _is_element(value: Any) -> bool:
    """Return whether ``value`` is an lxml (or ElementTree) element, not a comment."""
    return isinstance(getattr(value, "tag", None), str)


def _local(tag: str) -> str:
    """Return the local part of a Clark-notation tag."""
    return tag.rpartition("}")[2]


def _namespace(node: Any) -> str:
    """Return the namespace of an element's tag, empty when it has none."""
    tag: str = node.tag
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""
