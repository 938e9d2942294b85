"""The shapes the Vigil panel draws, and the subentries they are: zones, lines, areas, masks.

The panel edits the geometry of the same subentries the flows create, with the same data
keys: a zone is a `zone` subentry, a line crossing or a rule's own area a `rule` subentry, a
privacy mask a `camera_setting` subentry. A new area is a loitering rule (its dwell time can
be changed in its form). Everything else a subentry holds is kept as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from homeassistant.config_entries import ConfigEntry, ConfigSubentry

from vigil_protocol.privacy import DetectorKind
from vigil_protocol.shapes import ShapeProblem

from .const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_POLYGON,
    DEFAULT_CLASSES,
    DEFAULT_INERTIA,
    SUBENTRY_ZONE,
)
from .rule_flow import REGION_KINDS, rule_detectors
from .server_config import (
    CONF_DIRECTION,
    CONF_DWELL,
    CONF_KIND,
    CONF_LINE,
    KIND_LINE,
    KIND_LOITERING,
    KIND_PRIVACY_MASK,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
    rule_config,
    slug_id,
    zone_config,
    zone_info,
)
from .validation import line_error, polygon_error

type ShapeType = Literal["zone", "line", "area", "mask"]
type Json = dict[str, Any]

SHAPE_TYPES: Final = ("zone", "line", "area", "mask")
DIRECTIONS: Final = ("both", "a_to_b", "b_to_a")
NEW_AREA_DWELL_S: Final = 20.0
"""A new area is a loitering rule with the rule form's default dwell time."""
REPLAYABLE_KINDS: Final = frozenset({"zone_presence", KIND_LINE, KIND_LOITERING})
"""What the server's `ReplayRule` can replay (the other families read pixels)."""
SERVER_ERRORS: Final = frozenset(
    {
        "out_of_range",
        "invalid_value",
        *(p.value for p in ShapeProblem if p.value.startswith("polygon_")),
    }
)
"""The server's field errors the panel translates with the flows' strings (as the rule form)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """A shape the panel asks to save: a new one, or the geometry of subentry `id`."""

    type: ShapeType
    name: str
    points: list[list[float]]
    id: str | None = None
    direction: str | None = None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Draft:
        """Return the draft a panel message describes (its schema checked the types)."""
        return cls(
            type=raw["type"],
            name=str(raw["name"]).strip(),
            points=[[round(float(x), 4), round(float(y), 4)] for x, y in raw["points"]],
            id=raw.get("id"),
            direction=raw.get("direction"),
        )


def subentry_type(shape_type: ShapeType) -> str:
    """Return the subentry type a shape is saved as."""
    return {"zone": SUBENTRY_ZONE, "mask": SUBENTRY_CAMERA_SETTING}.get(shape_type, SUBENTRY_RULE)


def shape_of(subentry: ConfigSubentry) -> Json | None:
    """Return the shape a subentry draws, None when it draws none the panel edits."""
    data = subentry.data
    base = {"id": subentry.subentry_id, "name": subentry.title}
    kind = data.get(CONF_KIND)
    if subentry.subentry_type == SUBENTRY_ZONE:
        return base | {"type": "zone", "kind": "zone_presence", "points": data[CONF_POLYGON]}
    if subentry.subentry_type == SUBENTRY_RULE and kind == KIND_LINE:
        direction = data.get(CONF_DIRECTION, "both")
        return (
            base
            | {"type": "line", "kind": kind, "points": data[CONF_LINE]}
            | {"direction": direction}
        )
    if subentry.subentry_type == SUBENTRY_RULE and kind in REGION_KINDS and data.get(CONF_POLYGON):
        return base | {"type": "area", "kind": kind, "points": data[CONF_POLYGON]}
    if subentry.subentry_type == SUBENTRY_CAMERA_SETTING and kind == KIND_PRIVACY_MASK:
        return base | {"type": "mask", "kind": kind, "points": data[CONF_POLYGON]}
    return None


def camera_shapes(entry: ConfigEntry, camera_subentry_id: str) -> list[Json]:
    """Return the shapes drawn on a camera: zones, lines, areas and masks, by name."""
    shapes = [
        shape
        for sub in entry.subentries.values()
        if sub.data.get(CONF_CAMERA) == camera_subentry_id and (shape := shape_of(sub))
    ]
    for shape in shapes:
        shape["replay"] = shape["kind"] in REPLAYABLE_KINDS
    return sorted(shapes, key=lambda s: (SHAPE_TYPES.index(s["type"]), s["name"].casefold()))


def geometry_error(draft: Draft) -> str | None:
    """Return the flows' error key of a shape the server would refuse, or None."""
    if draft.type == "line":
        return line_error(draft.points)
    return polygon_error(draft.points)


def duplicate_name(entry: ConfigEntry, camera: str, draft: Draft) -> str | None:
    """Return the flows' error key when another shape of the same subentry type has the name."""
    wanted = subentry_type(draft.type)
    taken = any(
        sub.subentry_type == wanted
        and sub.subentry_id != draft.id
        and sub.data.get(CONF_CAMERA) == camera
        and sub.title.casefold() == draft.name.casefold()
        for sub in entry.subentries.values()
    )
    if not taken:
        return None
    return "zone_exists" if draft.type == "zone" else "rule_exists"


def draft_data(camera: str, draft: Draft, existing: ConfigSubentry | None) -> Json:
    """Return the subentry data of a draft: the saved data with the new geometry, or new data.

    New data is what the flows save with their defaults: a zone watches people with the
    default inertia; a line counts people both ways; an area is a loitering rule.
    """
    if existing is not None:
        data = dict(existing.data)
    elif draft.type == "zone":
        data = {CONF_CLASSES: list(DEFAULT_CLASSES), CONF_INERTIA: DEFAULT_INERTIA}
    elif draft.type == "line":
        data = {CONF_KIND: KIND_LINE, CONF_CLASSES: ["person"]}
    elif draft.type == "area":
        data = {CONF_KIND: KIND_LOITERING, CONF_DWELL: NEW_AREA_DWELL_S, CONF_CLASSES: ["person"]}
    else:
        data = {CONF_KIND: KIND_PRIVACY_MASK}
    data[CONF_CAMERA] = camera
    if draft.type == "line":
        data[CONF_LINE] = draft.points
        data[CONF_DIRECTION] = draft.direction or data.get(CONF_DIRECTION, "both")
    else:
        data[CONF_POLYGON] = draft.points
    return data


def matches(existing: ConfigSubentry, camera: str, draft: Draft) -> bool:
    """Return whether a subentry is the kind of shape a draft says it changes."""
    shape = shape_of(existing)
    return (
        shape is not None
        and shape["type"] == draft.type
        and existing.data.get(CONF_CAMERA) == camera
    )


def server_item(draft: Draft, data: Mapping[str, Any]) -> tuple[str, Json]:
    """Return the configuration section and item (without id) a draft is on the server."""
    if draft.type == "mask":
        return "privacy_masks", {CONF_POLYGON: data[CONF_POLYGON]}
    if draft.type == "zone":
        candidate = ConfigSubentry(
            data=MappingProxyType(dict(data)),
            subentry_id=draft.id or "candidate",
            subentry_type=SUBENTRY_ZONE,
            title=draft.name,
            unique_id=None,
        )
        item = zone_config(zone_info(candidate))
    else:
        item = rule_config(slug_id(draft.id or "candidate"), draft.name, data)
    item.pop("id")
    return ("zones" if draft.type == "zone" else "rules"), item


def detector_kinds(draft: Draft, data: Mapping[str, Any]) -> list[str]:
    """Return the detectors a shape's subentry runs (the privacy gate asks about them)."""
    if draft.type == "mask":
        return []
    if draft.type == "zone":
        dwell = float(data.get(CONF_MIN_DWELL) or 0)
        return [DetectorKind.LOITERING if dwell else DetectorKind.ZONE_PRESENCE]
    return rule_detectors(str(data[CONF_KIND]), data)


def kept_acknowledgements(data: Json, gated: list[str]) -> list[str]:
    """Keep the stored acknowledgements the context still needs; return the missing ones."""
    stored = dict(data.pop(CONF_ACKNOWLEDGEMENTS, None) or {})
    kept = {kind: stored[kind] for kind in gated if kind in stored}
    if kept:
        data[CONF_ACKNOWLEDGEMENTS] = kept
    return [kind for kind in gated if kind not in kept]
