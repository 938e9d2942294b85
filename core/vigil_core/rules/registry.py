"""The rule registry: each rule module registers the spec type it builds a rule from.

`build_rules` finds a camera's rules here by the type of each spec, so adding a rule family
is one new module in this package holding its spec and its rule (plus its name in the package's
`__init__`, which imports every family when Vigil is imported, each registering itself then,
and its spec in the `RuleSpec` union there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vigil_core.errors import ConfigInvalid
from vigil_core.geometry.calibration import Homography
from vigil_core.geometry.polygon import Polygon
from vigil_core.rules.zone import ZoneSpec
from vigil_core.store.counters import CounterStore

from .base import Rule

type RuleFactory = Callable[[Any, RuleSetup], Rule]


class Calibration(Protocol):
    """A camera's ground calibration (`config.GroundCalibration`)."""

    def homography(self) -> Homography:
        """Return the image-to-ground homography."""


class CameraRules(Protocol):
    """What building rules needs from a camera's configuration (`config.CameraSpec` has it).

    A structural type: the rule families sit below the configuration that lists them.
    """

    @property
    def id(self) -> str:
        """The camera's id."""

    @property
    def zones(self) -> Sequence[ZoneSpec]:
        """Its zones."""

    @property
    def rules(self) -> Sequence[Any]:
        """Its rule specs (each built by the rule registered for its type)."""

    @property
    def calibration(self) -> Calibration | None:
        """Its ground calibration, if any."""


_FACTORIES: dict[type, RuleFactory] = {}


@dataclass(frozen=True, slots=True)
class RuleSetup:
    """What a rule may need from its camera besides its own spec."""

    camera: CameraRules
    counters: CounterStore = field(default_factory=CounterStore)
    calibration: Homography | None = None

    @classmethod
    def for_camera(cls, camera: CameraRules, counters: CounterStore | None = None) -> RuleSetup:
        """Return the setup of one camera, with its calibration fitted once."""
        calibration = camera.calibration.homography() if camera.calibration else None
        return cls(camera=camera, counters=counters or CounterStore(), calibration=calibration)

    def zone(self, zone_id: str) -> ZoneSpec:
        """Return one of the camera's zones."""
        for zone in self.camera.zones:
            if zone.id == zone_id:
                return zone
        raise ConfigInvalid(f"camera {self.camera.id} has no zone {zone_id}")

    def region(
        self, zone_id: str | None, polygon: list[tuple[float, float]] | None
    ) -> Polygon | None:
        """Return a rule's area: the zone's polygon, its own polygon, or None (whole frame)."""
        if zone_id is not None:
            return Polygon(self.zone(zone_id).polygon)
        return Polygon(polygon) if polygon is not None else None


def register_rule[F: RuleFactory](spec_type: type) -> Callable[[F], F]:
    """Register a rule class (or factory) as the builder of rules from `spec_type` specs."""

    def decorate(factory: F) -> F:
        if spec_type in _FACTORIES:
            raise RuntimeError(f"a rule is already registered for {spec_type.__name__}")
        _FACTORIES[spec_type] = factory
        return factory

    return decorate


def build_rule(spec: Any, setup: RuleSetup) -> Rule:
    """Return the rule a spec describes."""
    factory = _FACTORIES.get(type(spec))
    if factory is None:
        raise ConfigInvalid(f"no rule is registered for {type(spec).__name__}")
    return factory(spec, setup)


def registered_spec_types() -> list[type]:
    """Return every spec type a rule is registered for."""
    return list(_FACTORIES)
