"""Rule families. Each module implements `Rule`; `build_rules` wires a camera's rules."""

from __future__ import annotations

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
    "ZonePresenceRule",
    "build_rule",
    "build_rules",
    "register_rule",
]
