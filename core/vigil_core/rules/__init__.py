"""Rule families: each module holds a family's spec, its rule and registers the rule once.

`RuleSpec` is the union of the families' specs that a camera's `rules` list takes (discriminated
on `type`); `build_rules` wires a camera's zones and rules. A new family is one module here, its
name in the import below and its spec in `RuleSpec`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vigil_core.rules.crowd import CrowdSpec
from vigil_core.rules.fast_move import FastMoveSpec
from vigil_core.rules.line_crossing import LineCrossingSpec
from vigil_core.rules.loitering import LoiteringSpec
from vigil_core.rules.object_left import ObjectLeftSpec
from vigil_core.rules.route import RouteSpec
from vigil_core.rules.wrong_way import WrongWaySpec
from vigil_core.store.counters import CounterStore

# Each family registers its rule on import. Imported here, when Vigil itself is imported (Home
# Assistant does that off its event loop), not at the first build: the engine builds a camera's
# rules on the loop, where listing this folder and importing modules would block it.
from . import (  # noqa: F401 - imported for their registrations
    background,
    crowd,
    fast_move,
    line_crossing,
    loitering,
    object_left,
    route,
    wrong_way,
)
from .base import Rule, RuleContext
from .registry import CameraRules, RuleSetup, build_rule, register_rule
from .zone import ZonePresenceRule

type RuleSpec = Annotated[
    LineCrossingSpec
    | LoiteringSpec
    | CrowdSpec
    | FastMoveSpec
    | WrongWaySpec
    | ObjectLeftSpec
    | RouteSpec,
    Field(discriminator="type"),
]


def build_rules(camera: CameraRules, *, counters: CounterStore | None = None) -> list[Rule]:
    """Return the rules a camera's configuration asks for: its zones, then its `rules`."""
    setup = RuleSetup.for_camera(camera, counters)
    rules: list[Rule] = [ZonePresenceRule(zone) for zone in camera.zones]
    rules += [build_rule(spec, setup) for spec in camera.rules]
    return rules


__all__ = [
    "CameraRules",
    "Rule",
    "RuleContext",
    "RuleSetup",
    "RuleSpec",
    "ZonePresenceRule",
    "build_rule",
    "build_rules",
    "register_rule",
]
