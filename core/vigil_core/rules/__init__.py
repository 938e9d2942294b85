"""Rule families. Each module implements `Rule`; `build_rules` wires a camera's rules."""

from __future__ import annotations

from ..config import CameraSpec
from .base import Rule, RuleContext
from .zone import ZonePresenceRule


def build_rules(camera: CameraSpec) -> list[Rule]:
    """Return the rules a camera's configuration asks for."""
    rules: list[Rule] = [ZonePresenceRule(zone) for zone in camera.zones]
    return rules


__all__ = ["Rule", "RuleContext", "ZonePresenceRule", "build_rules"]
