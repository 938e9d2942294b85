"""The protocol: messages round-trip, bad input is refused with its path, the schema is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import jsonschema
import pytest

from tests.protocol.strategies import JSON, values_of
import vigil_protocol as vp
from vigil_protocol.codec import MAX_DEPTH
from vigil_protocol.schema import protocol_schema
from vigil_protocol.shapes import ShapeError, ShapeProblem, check_line, check_polygon

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json"
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Case counts come from the profile: quick by default, `--fuzz-long` before a release."""
VALIDATOR = jsonschema.Draft202012Validator(protocol_schema())


@FUZZ
@given(values_of(vp.ClientMessage))
def test_client_messages_round_trip(message: Any) -> None:
    text = vp.dumps(message)
    assert vp.loads(vp.ClientMessage, text) == message


@FUZZ
@given(values_of(vp.ServerMessage))
def test_server_messages_round_trip(message: Any) -> None:
    text = vp.dumps(message)
    assert vp.loads(vp.ServerMessage, text) == message


@FUZZ
@given(st.one_of(values_of(vp.ClientMessage), values_of(vp.ServerMessage)))
def test_every_message_validates_against_the_published_schema(message: Any) -> None:
    VALIDATOR.validate(vp.encode(message))


def test_the_published_schema_is_current() -> None:
    """docs/protocol.schema.json is what the dataclasses say (regenerate: tests/protocol/write)."""
    current = json.loads(SCHEMA_FILE.read_text())
    assert current == protocol_schema(), (
        "run: .venv/bin/python -m vigil_protocol.schema > docs/protocol.schema.json"
    )


@FUZZ
@given(JSON)
def test_any_json_is_read_or_refused_with_a_protocol_error(data: Any) -> None:
    for union in (vp.ClientMessage, vp.ServerMessage):
        try:
            value = vp.decode(union, data)
        except vp.ProtocolError as err:
            assert err.reason
        else:
            assert vp.decode(union, vp.encode(value)) == value


@FUZZ
@given(st.binary(max_size=64))
def test_any_bytes_are_read_or_refused_with_a_protocol_error(raw: bytes) -> None:
    try:
        value = vp.loads(vp.ClientMessage, raw)
    except vp.ProtocolError as err:
        assert err.reason
    else:
        assert vp.loads(vp.ClientMessage, vp.dumps(value)) == value


def test_the_first_bad_field_is_named_with_its_path() -> None:
    bad = {"kind": "result", "id": 1, "value": {"kind": "subscribed", "states": [
        {"camera_id": "c", "rule_id": "z", "state": {"kind": "zone", "counts": {"person": "2"}}}
    ]}}  # fmt: skip
    with pytest.raises(vp.ProtocolError) as caught:
        vp.decode(vp.ServerMessage, bad)
    assert caught.value.path == "value.states[0].state.counts.person"
    assert caught.value.reason == "must be an integer"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"kind": "reset_counter", "id": 1, "camera_id": "c"}', "is required"),
        ('{"kind": "reset_counter", "id": true, "camera_id": "c", "rule_id": "r"}', "integer"),
        ('{"kind": "nope", "id": 1}', "kind must be one of"),
        ('{"kind": "probe_stream", "id": 1, "url": "u", "timeout_s": NaN}', "not JSON"),
        ('{"kind": "probe_stream", "id": 1, "url": "u", "transport": "tls"}', "one of"),
        ("[1, 2", "not JSON"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_messages_are_refused(text: str | bytes, reason: str) -> None:
    with pytest.raises(vp.ProtocolError, match=reason):
        vp.loads(vp.ClientMessage, text)


def test_free_form_json_has_bounded_depth() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(vp.ProtocolError, match="nested deeper"):
        vp.decode(vp.ClientMessage, {"kind": "apply_config", "id": 1, "config": {"a": deep}})
    very_deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(vp.ProtocolError):
        vp.loads(vp.ClientMessage, '{"kind": "apply_config", "id": 1, "config": ' + very_deep + "}")


def test_unknown_fields_of_a_newer_minor_version_are_ignored() -> None:
    text = '{"kind": "reset_counter", "id": 1, "camera_id": "c", "rule_id": "r", "new": 1}'
    assert vp.loads(vp.ClientMessage, text) == vp.ResetCounter(id=1, camera_id="c", rule_id="r")


def test_numbers_that_json_cannot_hold_are_refused_when_sending() -> None:
    with pytest.raises(vp.ProtocolError, match="finite"):
        vp.dumps(vp.CameraState(analysed_fps=float("inf")))


def test_secrets_stay_out_of_reprs() -> None:
    probe = vp.ProbeStream(url="rtsp://cam/s", username="admin", password="hunter2")
    auth = vp.Auth(token="t0ken-secret", client="test", protocol_version=vp.PROTOCOL_VERSION)
    assert "hunter2" not in repr(probe)
    assert "t0ken-secret" not in repr(auth)


def test_major_versions_decide_compatibility() -> None:
    assert vp.compatible(vp.PROTOCOL_VERSION)
    assert vp.compatible(f"{vp.major(vp.PROTOCOL_VERSION)}.99")
    assert not vp.compatible(f"{vp.major(vp.PROTOCOL_VERSION) + 1}.0")
    assert not vp.compatible("garbage")


def test_every_rule_family_has_a_state_value() -> None:
    kinds = {cls.KIND for cls in vp.RULE_STATES.values()}
    assert len(kinds) == len(vp.RULE_STATES)


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        ([(0.1, 0.1), (0.9, 0.1)], ShapeProblem.TOO_FEW_POINTS),
        ([(0.1, 0.1), (1.2, 0.1), (0.5, 0.9)], ShapeProblem.OUTSIDE_FRAME),
        ([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)], ShapeProblem.SELF_INTERSECTING),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], ShapeProblem.NO_AREA),
    ],
)
def test_bad_polygons_name_their_problem(
    points: list[tuple[float, float]], problem: ShapeProblem
) -> None:
    with pytest.raises(ShapeError) as caught:
        check_polygon(points)
    assert caught.value.problem is problem


def test_shapes_that_are_fine_pass() -> None:
    check_polygon([(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)])
    check_line([(0.1, 0.5), (0.9, 0.5)])
    with pytest.raises(ShapeError) as caught:
        check_line([(0.5, 0.5), (0.501, 0.5)])
    assert caught.value.problem is ShapeProblem.LINE_TOO_SHORT


ADMIN = vp.Actor(name="Alice", user_id="u1", is_admin=True)


def test_plate_rights_and_match_review_are_additive_requests() -> None:
    """Issue 21: review, export, erase and objection requests; the version stays 1.x."""
    assert vp.PROTOCOL_VERSION.startswith("1.")
    assert {"match_review", "plate_rights"} <= set(vp.CAPABILITIES)
    requests = [
        vp.ReviewMatch(id=1, match_id="m1", decision="confirm", actor=ADMIN),
        vp.ListMatches(id=2, actor=ADMIN),
        vp.ExportPlateRecords(id=3, plate="AB-123-CD", actor=ADMIN, reason="access request"),
        vp.ErasePlateRecords(
            id=4, plate="AB-123-CD", actor=ADMIN, reason="erasure", since=1.0, until=2.0
        ),
        vp.AddObjection(id=5, plate="AB-123-CD", actor=ADMIN, reason="keeper objected"),
        vp.RemoveObjection(id=6, objection_id="o1", actor=ADMIN, reason="withdrawn"),
        vp.ListObjections(id=7, actor=ADMIN),
        vp.QueryPlate(
            id=8, plate="AB123CD", actor=ADMIN, reason="theft", legal_basis="public_task"
        ),
    ]
    for request in requests:
        assert vp.load_client_message(vp.dumps(request)) == request
    # An older client's plate query (no legal basis) is still a message: the server refuses it.
    old = '{"kind":"query_plate","id":9,"plate":"AB123CD","reason":"theft","actor":{"name":"A"}}'
    query = vp.load_client_message(old)
    assert isinstance(query, vp.QueryPlate) and query.legal_basis is None
    with pytest.raises(vp.ProtocolError) as caught:
        vp.load_client_message(
            '{"kind":"review_match","id":1,"match_id":"m","decision":"maybe","actor":{"name":"A"}}'
        )
    assert caught.value.path == "decision"


def test_a_plate_match_carries_its_review_status() -> None:
    match = vp.PlateMatch(entry_id="van", wall_time=1.0, match_id="m1")
    assert match.status == "pending"
    state = vp.PlateState(last_match=match)
    assert vp.loads(vp.PlateState, vp.dumps(state)) == state


def test_the_server_load_is_an_additive_minor_version() -> None:
    """Issue 19: the server's load figures came with 1.2; a 1.1 server's state still reads."""
    assert vp.PROTOCOL_VERSION == "1.2"
    older = '{"kind": "state", "update": {"camera_id": null, "rule_id": null, "state": {'
    older += '"kind": "server", "cameras": 2, "analysed_fps": 9.5, "target_fps": 10.0}}}'
    push = vp.load_server_message(older)
    assert isinstance(push, vp.StatePush)
    state = push.update.state
    assert isinstance(state, vp.ServerState)
    assert state.analysed_fps == 9.5
    assert state.analysed_share is None and state.cpu_count is None
    assert state.latency_p95_ms is None and state.overloaded_cameras == ()
    load = vp.ServerState(
        analysed_share=0.62, cpu_count=2, inference_p50_ms=8.1, inference_p95_ms=30.4,
        latency_p50_ms=41.0, latency_p95_ms=180.5, overloaded_cameras=("a", "b"),
        overloaded=True,
    )  # fmt: skip
    update = vp.StatePush(update=vp.StateUpdate(camera_id=None, rule_id=None, state=load))
    assert vp.load_server_message(vp.dumps(update)) == update
