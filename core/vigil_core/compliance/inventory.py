"""Read the detectors a configuration turns on; leave out those its context holds back."""

from __future__ import annotations

from collections.abc import Iterable

from vigil_core.config import (
    AnprSpec,
    CameraSpec,
    EngineConfig,
    RuleSpec,
    ZoneSpec,
)
from vigil_core.privacy.context import EnabledDetector, Violation, check_configuration
from vigil_protocol.privacy import DetectorKind

_PLATE_KINDS = {
    "watchlist": DetectorKind.ANPR_WATCHLIST,
    "hashed": DetectorKind.ANPR_HASHED,
    "full": DetectorKind.ANPR_FULL,
}


def zone_kind(zone: ZoneSpec) -> DetectorKind:
    """Return what a zone does: presence, or loitering when it waits for a dwell time."""
    return DetectorKind.LOITERING if zone.min_dwell_s > 0 else DetectorKind.ZONE_PRESENCE


def rule_kinds(rule: RuleSpec) -> list[DetectorKind]:
    """Return the detector kinds one rule runs, as its family's spec says."""
    return rule.detector_kinds()


def camera_detectors(camera: CameraSpec) -> list[EnabledDetector]:
    """Return every detector one camera runs."""
    detectors = [
        EnabledDetector(
            kind=zone_kind(zone), camera_id=camera.id, rule_id=zone.id, name=zone.name or zone.id
        )
        for zone in camera.zones
    ]
    detectors += [
        EnabledDetector(kind=kind, camera_id=camera.id, rule_id=rule.id, name=rule.name or rule.id)
        for rule in camera.rules
        for kind in rule_kinds(rule)
    ]
    if camera.tamper.enabled:
        detectors.append(
            EnabledDetector(kind=DetectorKind.TAMPER, camera_id=camera.id, name=camera.name)
        )
    if camera.anpr.enabled:
        detectors.append(
            EnabledDetector(kind=plate_kind(camera.anpr), camera_id=camera.id, name=camera.name)
        )
    return detectors


def plate_kind(anpr: AnprSpec) -> DetectorKind:
    """Return the plate-reading detector of a camera's privacy mode."""
    return _PLATE_KINDS[anpr.privacy]


def hub_detectors(config: EngineConfig) -> list[EnabledDetector]:
    """Return the detectors that span cameras: plate searches and routes of watched plates."""
    reading = [camera.anpr for camera in config.cameras if camera.anpr.enabled]
    detectors: list[EnabledDetector] = []
    if any(anpr.privacy != "watchlist" for anpr in reading):
        detectors.append(EnabledDetector(kind=DetectorKind.PLATE_QUERY))
    if len(reading) >= 2 and config.anpr.watchlist.route_window_s > 0:
        detectors.append(EnabledDetector(kind=DetectorKind.VEHICLE_ROUTE))
    return detectors


def enabled_detectors(config: EngineConfig) -> list[EnabledDetector]:
    """Return every detector the configuration runs, camera by camera, then hub-wide."""
    return [
        *(detector for camera in config.cameras for detector in camera_detectors(camera)),
        *hub_detectors(config),
    ]


def plate_queries_allowed(violations: list[Violation]) -> bool:
    """Return whether plate searches may run (the context did not hold them back)."""
    return not any(v.detector.kind is DetectorKind.PLATE_QUERY for v in violations)


def check_engine_config(
    config: EngineConfig, extra: Iterable[EnabledDetector] = ()
) -> list[Violation]:
    """Return the detectors the configuration's context holds back for want of an acknowledgement.

    `extra` adds detectors the engine configuration does not describe (the host's plate
    queries, for example).
    """
    privacy = config.privacy
    return check_configuration(
        privacy.context, [*enabled_detectors(config), *extra], privacy.acknowledgements
    )


def enforce_context(config: EngineConfig) -> tuple[EngineConfig, list[Violation]]:
    """Return the configuration without what its context holds back, and why.

    A zone or rule whose detector needs an acknowledgement nobody gave is left out (with the
    rules that refer to a zone left out); an object rule loses only the change it may not
    watch; plate reading falls back to the watchlist mode; routes of watched plates stop.
    """
    violations = check_engine_config(config)
    if not violations:
        return config, []
    blocked = {(v.detector.camera_id, v.detector.rule_id, v.detector.kind) for v in violations}
    # A camera whose plate mode is held back falls back to the watchlist only where the
    # watchlist itself may run (in public space it needs its own acknowledgement, reported too).
    for camera in config.cameras:
        if not camera.anpr.enabled or (camera.id, None, plate_kind(camera.anpr)) not in blocked:
            continue
        reader = EnabledDetector(
            kind=DetectorKind.ANPR_WATCHLIST, camera_id=camera.id, name=camera.name
        )
        fallback = check_configuration(
            config.privacy.context, [reader], config.privacy.acknowledgements
        )
        if fallback:
            blocked.add((camera.id, None, DetectorKind.ANPR_WATCHLIST))
            if plate_kind(camera.anpr) is not DetectorKind.ANPR_WATCHLIST:
                violations += fallback
    cameras = [_without(camera, blocked) for camera in config.cameras]
    update: dict[str, object] = {"cameras": cameras}
    if (None, None, DetectorKind.VEHICLE_ROUTE) in blocked:
        watchlist = config.anpr.watchlist.model_copy(update={"route_window_s": 0.0})
        update["anpr"] = config.anpr.model_copy(update={"watchlist": watchlist})
    return config.model_copy(update=update), violations


def _without(
    camera: CameraSpec, blocked: set[tuple[str | None, str | None, DetectorKind]]
) -> CameraSpec:
    zones = [z for z in camera.zones if (camera.id, z.id, zone_kind(z)) not in blocked]
    dropped = {z.id for z in camera.zones} - {z.id for z in zones}
    rules = [
        kept
        for rule in camera.rules
        if not _refers_to(rule, dropped)
        and (kept := _rule_without(camera.id, rule, blocked)) is not None
    ]
    update: dict[str, object] = {"zones": zones, "rules": rules}
    if camera.anpr.enabled and (camera.id, None, plate_kind(camera.anpr)) in blocked:
        if (camera.id, None, DetectorKind.ANPR_WATCHLIST) in blocked:
            # Not even the watchlist may run: no plate is read at all.
            update["anpr"] = camera.anpr.model_copy(update={"enabled": False})
        else:
            # Reading beyond a watchlist falls back to the watchlist: nothing unmatched is kept.
            update["anpr"] = camera.anpr.model_copy(update={"privacy": "watchlist"})
    return camera.model_copy(update=update)


def _rule_without(
    camera_id: str, rule: RuleSpec, blocked: set[tuple[str | None, str | None, DetectorKind]]
) -> RuleSpec | None:
    """Return the rule without its blocked detectors, or None when nothing of it may run."""
    kinds = [k for k in rule_kinds(rule) if (camera_id, rule.id, k) not in blocked]
    return rule.restricted_to(kinds)


def _refers_to(rule: RuleSpec, zone_ids: set[str]) -> bool:
    return bool(zone_ids & set(rule.zone_refs()))
