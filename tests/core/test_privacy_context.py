"""Deployment context: the purpose table, the gate, the engine leaving out what is held back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from vigil_core.compliance.inventory import (
    enabled_detectors,
    enforce_context,
    plate_queries_allowed,
)
from vigil_core.compliance.summary import LANGUAGES, Texts
from vigil_core.config import EngineConfig
from vigil_core.engine import Engine
from vigil_core.events.model import EventPhase, RuleEvent
from vigil_core.privacy.context import (
    Acknowledgement,
    EnabledDetector,
    PrivacySpec,
    allowance,
    anonymise,
    apply_context,
    check_configuration,
    gate_event,
    keeps_images,
    needs_acknowledgement,
    shows_tracks,
    statistics_only,
)
from vigil_core.privacy.purposes import (
    CAMERA_SIDE_KINDS,
    PURPOSES,
    Allowance,
    DataLevel,
    describes_person,
)
from vigil_protocol.privacy import DeploymentContext, DetectorKind, LegalBasis

HOME, PREMISES, PUBLIC = (
    DeploymentContext.PRIVATE_HOME,
    DeploymentContext.PRIVATE_PREMISES,
    DeploymentContext.PUBLIC_SPACE,
)
K = DetectorKind
SQUARE = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]


def ack(kind: DetectorKind, context: DeploymentContext = PUBLIC) -> Acknowledgement:
    return Acknowledgement(
        detector=kind,
        legal_basis=LegalBasis.PUBLIC_TASK,
        justification="Repeated assaults at night near the bus stop, reported by the police.",
        by="Alice Martin",
        at=datetime(2025, 5, 2, tzinfo=UTC),
        context=context,
    )


def config(context: str | None, acknowledgements: dict[str, Any] | None = None) -> EngineConfig:
    """A camera with a zone, a dwell zone, and every rule type."""
    return EngineConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "square",
                    "name": "Town square",
                    "source": "rtsp://192.0.2.1/s",
                    "zones": [
                        {"id": "door", "polygon": SQUARE},
                        {"id": "bench", "polygon": SQUARE, "min_dwell_s": 30},
                    ],
                    "rules": [
                        {"type": "line_crossing", "id": "count", "line": [[0, 0.5], [1, 0.5]]},
                        {"type": "loitering", "id": "linger", "zone": "door"},
                        {"type": "crowd", "id": "crowd", "zone": "door", "movement": {}},
                        {"type": "fast_move", "id": "speed", "speed_px_s": 200},
                        {
                            "type": "wrong_way",
                            "id": "wrong",
                            "zone": "door",
                            "direction": [[0, 0], [1, 0]],
                        },
                        {"type": "object_left", "id": "bags", "detect": ["left", "removed"]},
                        {"type": "route", "id": "path", "zones": ["door", "bench"]},
                    ],
                }
            ],
            "privacy": {
                "context": context,
                "acknowledgements": {
                    key: value.model_dump() for key, value in (acknowledgements or {}).items()
                },
            },
        }
    )


def test_table_covers_every_kind_in_both_languages() -> None:
    assert set(PURPOSES) == set(DetectorKind)
    for language in LANGUAGES:
        t = Texts(language)
        for kind, row in PURPOSES.items():
            assert t(f"purpose.{row.purpose}") and t(f"detector.{kind.value}")
            assert t(f"purpose_short.{row.purpose}")
    assert Texts("en").keys() == Texts("fr").keys()


def test_public_space_gates_what_the_issue_lists() -> None:
    gated = {kind for kind in DetectorKind if allowance(PUBLIC, kind) is Allowance.ACKNOWLEDGE}
    assert gated == {
        K.LOITERING,
        K.OBJECT_REMOVED,
        K.ROUTE,
        K.ANPR_WATCHLIST,
        K.ANPR_HASHED,
        K.ANPR_FULL,
        K.PLATE_QUERY,
        K.VEHICLE_ROUTE,
    }
    stats = {kind for kind in DetectorKind if allowance(PUBLIC, kind) is Allowance.STATISTICS}
    assert stats == {K.LINE_CROSSING, K.CROWD, K.CROWD_MOVEMENT}
    # Issue 21: a watchlist in public space reads every passing plate; it needs a legal basis.
    assert allowance(PUBLIC, K.ANPR_WATCHLIST) is Allowance.ACKNOWLEDGE
    assert allowance(PREMISES, K.ANPR_WATCHLIST) is Allowance.ALLOWED
    # Keeping every plate in full always needs a stated basis; homes never run statistics-only.
    assert all(allowance(c, K.ANPR_FULL) is Allowance.ACKNOWLEDGE for c in DeploymentContext)
    assert not any(allowance(HOME, k) is Allowance.STATISTICS for k in DetectorKind)
    # Only the camera's health describes no one.
    assert [k for k, row in PURPOSES.items() if row.level is DataLevel.NONE] == [K.TAMPER]


def test_needs_acknowledgement_for_flows() -> None:
    kinds = [K.ZONE_PRESENCE, K.LOITERING, K.LOITERING, K.LINE_CROSSING]
    assert needs_acknowledgement(PUBLIC, kinds) == [K.LOITERING]
    assert needs_acknowledgement(PREMISES, kinds) == []
    assert needs_acknowledgement(None, kinds) == []
    assert needs_acknowledgement(HOME, [K.ANPR_HASHED, K.ANPR_WATCHLIST]) == [K.ANPR_HASHED]


def test_check_configuration() -> None:
    loiter = EnabledDetector(kind=K.LOITERING, camera_id="c", rule_id="r1")
    plates = EnabledDetector(kind=K.PLATE_QUERY)
    assert (loiter.key, plates.key) == ("r1:loitering", "hub:plate_query")
    violations = check_configuration(PUBLIC, [loiter, plates], {})
    assert [v.key for v in violations] == ["r1:loitering", "hub:plate_query"]
    assert check_configuration(PUBLIC, [loiter], {"r1:loitering": ack(K.LOITERING)}) == []
    # An acknowledgement for another detector does not count.
    assert check_configuration(PUBLIC, [loiter], {"r1:loitering": ack(K.ROUTE)}) != []
    assert check_configuration(PREMISES, [loiter, plates], {}) == []
    assert check_configuration(None, [loiter], {}) == []


def test_enabled_detectors_read_every_rule() -> None:
    kinds = [(d.rule_id, d.kind) for d in enabled_detectors(config(None))]
    assert kinds == [
        ("door", K.ZONE_PRESENCE),
        ("bench", K.LOITERING),
        ("count", K.LINE_CROSSING),
        ("linger", K.LOITERING),
        ("crowd", K.CROWD),
        ("crowd", K.CROWD_MOVEMENT),
        ("speed", K.FAST_MOVE),
        ("wrong", K.WRONG_WAY),
        ("bags", K.OBJECT_LEFT),
        ("bags", K.OBJECT_REMOVED),
        ("path", K.ROUTE),
        (None, K.TAMPER),
    ]


def test_public_space_leaves_out_what_nobody_acknowledged() -> None:
    gated, violations = enforce_context(config("public_space"))
    assert {v.key for v in violations} == {
        "bench:loitering",
        "linger:loitering",
        "bags:object_removed",
        "path:route",
    }
    camera = gated.cameras[0]
    assert [z.id for z in camera.zones] == ["door"]
    rules = {rule.id: rule for rule in camera.rules}
    # The route through the held-back dwell zone goes too; the object rule keeps "left".
    assert set(rules) == {"count", "crowd", "speed", "wrong", "bags"}
    assert rules["bags"].detect == ["left"]  # type: ignore[union-attr]
    assert rules["crowd"].movement is not None  # type: ignore[union-attr]


def test_acknowledged_detectors_run() -> None:
    acks = {
        "bench:loitering": ack(K.LOITERING),
        "linger:loitering": ack(K.LOITERING),
        "bags:object_removed": ack(K.OBJECT_REMOVED),
        "path:route": ack(K.ROUTE),
    }
    original = config("public_space", acks)
    gated, violations = enforce_context(original)
    assert violations == []
    assert gated is original


@pytest.mark.parametrize("context", ["private_home", "private_premises"])
def test_other_contexts_run_everything(context: str) -> None:
    original = config(context)
    assert enforce_context(original) == (original, [])


def test_without_a_context_only_what_a_home_allows_runs() -> None:
    """Fail closed: no declared context gates as a private home, never as nothing at all."""
    for kind in DetectorKind:
        assert allowance(None, kind) is allowance(HOME, kind)
    assert needs_acknowledgement(None, [K.ANPR_HASHED, K.ANPR_FULL, K.LOITERING]) == [
        K.ANPR_HASHED,
        K.ANPR_FULL,
    ]
    gated, violations = enforce_context(plates(None))
    assert {v.key for v in violations} == {
        "entrance:anpr_hashed",
        "exit:anpr_hashed",
        "hub:plate_query",
        "hub:vehicle_route",
    }
    assert {v.context for v in violations} == {HOME}
    assert [c.anpr.privacy for c in gated.cameras] == ["watchlist", "watchlist"]
    assert not plate_queries_allowed(violations)
    assert enforce_context(plates(None, "full"))[1] != []
    # What a home runs (every rule family, loitering included) still runs.
    original = config(None)
    assert enforce_context(original) == (original, [])


def line_event(kind: str = "line_crossing") -> RuleEvent:
    return RuleEvent(
        kind=kind,
        camera_id="square",
        rule_id="count",
        track_id=12,
        phase=EventPhase.INSTANT,
        at_s=3.0,
        frame_index=30,
        wall_time=0.0,
        attrs={
            "line": "Entrance",
            "direction": "a_to_b",
            "label": "person",
            "count": 7,
            "position": (0.5, 0.6),
            "track_ids": [12],
        },
    )


def test_statistics_only_events_lose_tracks_and_positions() -> None:
    event = anonymise(line_event())
    assert event.track_id is None
    assert dict(event.attrs) == {
        "line": "Entrance",
        "direction": "a_to_b",
        "label": "person",
        "count": 7,
    }
    assert apply_context(PUBLIC, line_event()) == event
    assert apply_context(PREMISES, line_event()) == line_event()
    assert apply_context(PUBLIC, line_event("obstruction")) == line_event("obstruction")
    assert statistics_only(PUBLIC, "crowd") and not keeps_images(PUBLIC, "crowd")
    assert keeps_images(PUBLIC, "zone_presence") and keeps_images(None, "crowd")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_engine_enforces_the_context(loop: asyncio.AbstractEventLoop) -> None:
    engine = Engine(config("public_space"), loop=loop)
    assert {v.key for v in engine.privacy_violations} == {
        "bench:loitering",
        "linger:loitering",
        "bags:object_removed",
        "path:route",
    }
    assert [z.id for z in engine.config.cameras[0].zones] == ["door"]
    received: list[RuleEvent] = []
    engine.bus.subscribe(received.append)  # type: ignore[arg-type]
    engine._publish(line_event())
    loop.run_until_complete(asyncio.sleep(0))
    assert received and received[0].track_id is None
    assert "position" not in received[0].attrs


def plates(
    context: str | None, privacy: str = "hashed", acks: dict[str, Any] | None = None
) -> EngineConfig:
    """Two plate-reading cameras (entrance and exit) in one privacy mode."""
    anpr = {"enabled": True, "privacy": privacy, "full_acknowledged": privacy == "full"}
    return EngineConfig.model_validate(
        {
            "cameras": [
                {"id": "entrance", "source": "rtsp://192.0.2.1/a", "anpr": anpr},
                {"id": "exit", "source": "rtsp://192.0.2.1/b", "anpr": anpr},
            ],
            "privacy": {
                "context": context,
                "acknowledgements": {k: v.model_dump() for k, v in (acks or {}).items()},
            },
        }
    )


def test_plate_reading_beyond_a_watchlist_falls_back_in_public_space() -> None:
    config = plates("public_space")
    kinds = {(d.camera_id, d.kind) for d in enabled_detectors(config)}
    assert kinds >= {
        ("entrance", K.ANPR_HASHED),
        ("exit", K.ANPR_HASHED),
        (None, K.PLATE_QUERY),
        (None, K.VEHICLE_ROUTE),
    }
    gated, violations = enforce_context(config)
    assert {v.key for v in violations} == {
        "entrance:anpr_hashed",
        "exit:anpr_hashed",
        "entrance:anpr_watchlist",
        "exit:anpr_watchlist",
        "hub:plate_query",
        "hub:vehicle_route",
    }
    # Neither mode acknowledged in public space: no plate is read at all.
    assert [c.anpr.enabled for c in gated.cameras] == [False, False]
    assert gated.anpr.watchlist.route_window_s == 0
    assert not plate_queries_allowed(violations)
    # The watchlist acknowledged: reading beyond it falls back to it.
    watch = {
        "entrance:anpr_watchlist": ack(K.ANPR_WATCHLIST),
        "exit:anpr_watchlist": ack(K.ANPR_WATCHLIST),
    }
    gated, _violations = enforce_context(plates("public_space", acks=watch))
    assert [(c.anpr.enabled, c.anpr.privacy) for c in gated.cameras] == [
        (True, "watchlist"),
        (True, "watchlist"),
    ]
    # Acknowledged, they run as configured.
    acks = {
        "entrance:anpr_hashed": ack(K.ANPR_HASHED),
        "exit:anpr_hashed": ack(K.ANPR_HASHED),
        "hub:plate_query": ack(K.PLATE_QUERY),
        "hub:vehicle_route": ack(K.VEHICLE_ROUTE),
    }
    assert enforce_context(plates("public_space", acks=acks))[1] == []


def test_a_watchlist_in_public_space_needs_a_legal_basis() -> None:
    """Issue 21 point 1: without an acknowledgement no plate is read in public space."""
    gated, violations = enforce_context(plates("public_space", "watchlist"))
    assert {v.key for v in violations} == {
        "entrance:anpr_watchlist",
        "exit:anpr_watchlist",
        "hub:vehicle_route",
    }
    assert [c.anpr.enabled for c in gated.cameras] == [False, False]
    acks = {
        "entrance:anpr_watchlist": ack(K.ANPR_WATCHLIST),
        "exit:anpr_watchlist": ack(K.ANPR_WATCHLIST),
        "hub:vehicle_route": ack(K.VEHICLE_ROUTE),
    }
    gated, violations = enforce_context(plates("public_space", "watchlist", acks=acks))
    assert violations == [] and [c.anpr.enabled for c in gated.cameras] == [True, True]


def test_plate_modes_on_private_premises() -> None:
    _gated, violations = enforce_context(plates("private_premises"))
    assert violations == [] and plate_queries_allowed(violations)
    gated, violations = enforce_context(plates("private_premises", "full"))
    assert {v.key for v in violations} == {"entrance:anpr_full", "exit:anpr_full"}
    assert [c.anpr.privacy for c in gated.cameras] == ["watchlist", "watchlist"]
    _gated, violations = enforce_context(plates("private_premises", "watchlist"))
    assert violations == []


def camera_side(kind: str, source: str = "onvif") -> RuleEvent:
    return replace(line_event(kind), source=source, rule_id="onvif:rule", track_id=4)


def test_camera_side_analytics_go_through_the_purpose_table() -> None:
    public = PrivacySpec(context=PUBLIC)
    # A camera's own counting line is a statistic in public space, as Vigil's own is.
    counted = gate_event(public, camera_side("line_crossing"))
    assert counted is not None and counted.track_id is None
    assert "position" not in counted.attrs and "track_ids" not in counted.attrs
    premises = gate_event(PrivacySpec(context=PREMISES), camera_side("line_crossing"))
    assert premises == camera_side("line_crossing")
    # Presence and the camera's health pass; a kind the table does not know never does.
    assert gate_event(public, camera_side("person")) == camera_side("person")
    assert gate_event(public, camera_side("obstruction")) == camera_side("obstruction")
    assert gate_event(public, camera_side("digital_input")) == camera_side("digital_input")
    for kind in ("face", "face_recognition", "gender"):
        assert gate_event(public, camera_side(kind)) is None
        assert gate_event(PrivacySpec(context=HOME), camera_side(kind)) is None
    assert CAMERA_SIDE_KINDS["object_count"] is K.CROWD
    assert not any(describes_person(kind) for kind in CAMERA_SIDE_KINDS)
    # Vigil's own events keep their behaviour (tamper conditions and plates are not kinds).
    assert gate_event(public, line_event("obstruction")) == line_event("obstruction")


def test_a_held_back_camera_side_kind_needs_its_acknowledgement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gate is the table's: were a camera-side kind held back, it would need its basis."""
    monkeypatch.setitem(CAMERA_SIDE_KINDS, "dwell", K.LOITERING)  # type: ignore[index]
    assert gate_event(PrivacySpec(context=PUBLIC), camera_side("dwell")) is None
    acks = {"square:loitering": ack(K.LOITERING)}
    spec = PrivacySpec(context=PUBLIC, acknowledgements=acks)
    assert gate_event(spec, camera_side("dwell")) == camera_side("dwell")


def test_pictures_show_tracks_except_in_the_statistics_mode() -> None:
    counting = [K.LINE_CROSSING, K.CROWD, K.TAMPER]
    assert not shows_tracks(PUBLIC, counting)
    assert shows_tracks(PUBLIC, [*counting, K.ZONE_PRESENCE])
    assert not shows_tracks(PUBLIC, [K.TAMPER])
    for context in (None, HOME, PREMISES):
        assert shows_tracks(context, counting) and shows_tracks(context, [])
