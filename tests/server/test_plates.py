"""Plate safeguards through the server: review of matches, legal bases, rights (issue 21).

A real server runs the real models on a clip of a real photo with a rendered French plate;
clients send the protocol's requests over a real WebSocket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.vigil.client import ServerError, VigilClient
from tests.server.conftest import ServerFactory
from tests.server.test_server import Pushes, _state
from tests.support.plates import encode_clip, plate_on_photo, read_rgb, zoom_towards
from tests.support.shared import MEDIA_DIR
from vigil_core.server import VigilServer
import vigil_protocol as vp
from vigil_tools.eval.anpr import load_folder

type Connect = Callable[..., Awaitable[VigilClient]]

PLATE = "AB-123-CD"
ADMIN = vp.Actor(name="Alice", user_id="u-alice", is_admin=True)
USER = vp.Actor(name="Bob", user_id="u-bob", is_admin=False)
AUTOMATION = vp.Actor(name="automation", is_admin=True, origin="automation")
NO_ID = vp.Actor(name="someone", is_admin=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a clip of a real photo with a rendered plate, zooming in: a car approaching.

    Made once for the module (about 1.2 s of CPU): every test only reads it.
    """
    folder = MEDIA_DIR / "plates" / "us"
    if not folder.is_dir():
        pytest.skip("the shared plate photos are not on this machine")
    photo = next(p for p in load_folder(folder) if p.box is not None and p.box.width >= 120)
    assert photo.box is not None
    image, plate = plate_on_photo(read_rgb(photo.path), photo.box, PLATE, "fr")
    frames = [zoom_towards(image, plate.center, 1.0 + 0.04 * k) for k in range(30)]
    return encode_clip(frames, tmp_path_factory.mktemp("plates") / "gate.mp4", fps=10.0)


def plates_config(
    clip: Path, *cameras: str, context: str = "private_premises", **entry: Any
) -> dict[str, Any]:
    """Return a configuration reading plates on the clip (hashed) with one watched plate."""
    watched = {
        "id": "van",
        "plate": PLATE,
        "label": "Van",
        "reason": "reported stolen on 1 December",
        "expires": (date.today() + timedelta(days=10)).isoformat(),
        **entry,
    }
    return {
        "privacy": {"context": context},
        "anpr": {"watchlist": {"entries": [watched]}},
        "cameras": [
            {
                "id": camera_id,
                "source": str(clip),
                "fps": 5,
                "anpr": {"enabled": True, "countries": ["fr"], "privacy": "hashed"},
            }
            for camera_id in cameras
        ],
    }


async def refused(client: VigilClient, request: vp.Request) -> str:
    """Send a request the server must refuse; return the translation key of the refusal."""
    with pytest.raises(ServerError) as caught:
        await client.request(request)
    return caught.value.translation_key


def log_entries(server: VigilServer, action: str) -> list[dict[str, Any]]:
    assert server.access_log is not None
    return [e for e in server.access_log.entries() if e["action"] == action]


def is_event(kind: str) -> Callable[[Any], bool]:
    return lambda p: isinstance(p, vp.EventPush) and p.event.kind == kind


async def test_public_space_holds_plate_reading_back_and_caps_the_expiry(
    start_server: ServerFactory, connect: Connect, clip: Path
) -> None:
    server = await start_server()
    client = await connect(server)
    config = plates_config(clip, "gate", context="public_space")
    applied = await client.call(vp.ApplyConfig(config=config, dry_run=True), vp.ConfigApplied)
    assert {(h.camera_id, h.detector) for h in applied.held_back} >= {("gate", "anpr_watchlist")}
    too_long = plates_config(
        clip, "gate", context="public_space", expires=str(date.today() + timedelta(days=45))
    )
    with pytest.raises(ServerError) as caught:
        await client.request(vp.ApplyConfig(config=too_long))
    assert caught.value.fields[0].translation_key == "watchlist_expiry_too_long"
    assert PLATE not in str(caught.value.info)
    no_reason = plates_config(clip, "gate")
    del no_reason["anpr"]["watchlist"]["entries"][0]["reason"]
    with pytest.raises(ServerError) as caught:
        await client.request(vp.ApplyConfig(config=no_reason))
    assert [(f.loc, f.translation_key) for f in caught.value.fields] == [
        ("anpr.watchlist.entries.0.reason", "required")
    ]


async def test_a_match_is_pending_until_an_administrator_confirms_it(
    start_server: ServerFactory, connect: Connect, clip: Path
) -> None:
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    await client.call(vp.ApplyConfig(config=plates_config(clip, "gate")), vp.ConfigApplied)
    pending = (await pushes.wait(is_event("watchlist_match"), "a watchlist match")).event
    assert pending.attrs["status"] == "pending" and pending.attrs["entry_id"] == "van"
    match_id = str(pending.attrs["match_id"])
    state = await pushes.wait(
        lambda p: _state(p, "plates", "gate") and p.update.state.last_match is not None,
        "the match in the plate state",
    )
    assert state.update.state.last_match.status == "pending"
    listed = await client.call(vp.ListMatches(actor=ADMIN), vp.WatchlistMatches)
    assert [(m.match_id, m.status) for m in listed.matches] == [(match_id, "pending")]
    # Only an administrator in person reviews; nothing is logged for a refusal.
    review = vp.ReviewMatch(match_id=match_id, decision="confirm", actor=USER)
    assert await refused(client, review) == "admin_required"
    for actor in (AUTOMATION, NO_ID):
        review = vp.ReviewMatch(match_id=match_id, decision="confirm", actor=actor)
        assert await refused(client, review) == "real_user_required"
    assert log_entries(server, "match_confirm") == []
    review = vp.ReviewMatch(match_id=match_id, decision="confirm", actor=ADMIN, reason="seen")
    reviewed = await client.call(review, vp.MatchReviewed)
    assert reviewed.match.status == "confirmed" and reviewed.match.reviewed_by == "Alice"
    confirmed = (await pushes.wait(is_event("watchlist_match_confirmed"), "the confirmation")).event
    assert confirmed.attrs["match_id"] == match_id and confirmed.attrs["status"] == "confirmed"
    assert "plate" not in confirmed.attrs
    await pushes.wait(
        lambda p: (
            _state(p, "plates", "gate")
            and p.update.state.last_match is not None
            and p.update.state.last_match.status == "confirmed"
        ),
        "the confirmed state",
    )
    (entry,) = log_entries(server, "match_confirm")
    assert entry["target"] == match_id and entry["actor"]["user_id"] == "u-alice"
    assert await refused(client, review) == "match_already_reviewed"
    unknown = vp.ReviewMatch(match_id="nope", decision="reject", actor=ADMIN)
    assert await refused(client, unknown) == "unknown_match"


async def test_plate_queries_need_a_person_and_a_legal_basis(
    start_server: ServerFactory, connect: Connect, clip: Path
) -> None:
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    await client.call(vp.ApplyConfig(config=plates_config(clip, "gate")), vp.ConfigApplied)
    await pushes.wait(is_event("watchlist_match"), "a watchlist match")
    await pushes.wait(
        lambda p: _state(p, "plates", "gate") and p.update.state.passages_today >= 1, "a passage"
    )
    asked = {"plate": PLATE, "reason": "theft reported", "legal_basis": "legitimate_interests"}
    assert await refused(client, vp.QueryPlate(actor=AUTOMATION, **asked)) == ("real_user_required")
    assert await refused(client, vp.QueryPlate(actor=NO_ID, **asked)) == "real_user_required"
    assert await refused(client, vp.QueryPlate(actor=USER, **asked)) == "admin_required"
    without = {**asked, "legal_basis": None}
    assert await refused(client, vp.QueryPlate(actor=ADMIN, **without)) == "legal_basis_required"
    wrong = {**asked, "legal_basis": "curiosity"}
    assert await refused(client, vp.QueryPlate(actor=ADMIN, **wrong)) == "legal_basis_required"
    pattern = {**asked, "plate": "AB-*-CD"}
    assert await refused(client, vp.QueryPlate(actor=ADMIN, **pattern)) == "invalid_plate"
    assert log_entries(server, "plate_query") == []
    found = await client.call(vp.QueryPlate(actor=ADMIN, **asked), vp.PlateQueryResult)
    assert [(p.camera_id, p.plate) for p in found.passages] == [("gate", None)]
    (entry,) = log_entries(server, "plate_query")
    assert entry["details"]["legal_basis"] == "legitimate_interests"
    assert entry["details"]["user_id"] == "u-alice" and entry["reason"] == "theft reported"
    assert "AB123CD" not in json.dumps(entry)


async def test_export_erase_and_object_by_plate(
    start_server: ServerFactory, connect: Connect, clip: Path
) -> None:
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    await client.call(vp.ApplyConfig(config=plates_config(clip, "gate")), vp.ConfigApplied)
    await pushes.wait(is_event("watchlist_match"), "a watchlist match")
    await pushes.wait(
        lambda p: _state(p, "plates", "gate") and p.update.state.passages_today >= 1, "a passage"
    )
    export = vp.ExportPlateRecords(plate="ab 123 cd", actor=ADMIN, reason="keeper's request")
    assert await refused(client, replace(export, actor=USER)) == "admin_required"
    exported = await client.call(export, vp.PlateRecordsExport)
    document = json.loads(exported.content)
    assert [s["camera_id"] for s in document["sightings"]] == ["gate"]
    assert [m["entry_id"] for m in document["watchlist_matches"]] == ["van"]
    assert len(document["crops"]) == 1 and document["crops"][0]["jpeg_base64"]
    assert (server.data.documents_dir / exported.filename).is_file()
    (logged,) = log_entries(server, "plate_export")
    assert "AB123CD" not in json.dumps(logged) and logged["reason"] == "keeper's request"
    # An erasure in a window before the passage removes nothing; over it, everything.
    before = vp.ErasePlateRecords(plate=PLATE, actor=ADMIN, reason="erasure", until=1.0)
    erased = await client.call(before, vp.PlateRecordsErased)
    assert (erased.hashed, erased.matches, erased.crops) == (0, 0, 0)
    erase = vp.ErasePlateRecords(plate=PLATE, actor=ADMIN, reason="erasure request")
    erased = await client.call(erase, vp.PlateRecordsErased)
    assert (erased.hashed, erased.matches, erased.crops) == (1, 1, 1)
    assert len(log_entries(server, "plate_erase")) == 2
    query = vp.QueryPlate(plate=PLATE, actor=ADMIN, reason="check", legal_basis="public_task")
    assert (await client.call(query, vp.PlateQueryResult)).passages == ()
    # The keeper objects: the next passage is counted, and nothing else.
    added = await client.call(
        vp.AddObjection(plate=PLATE, actor=ADMIN, reason="objection by letter"), vp.ObjectionAdded
    )
    assert added.created and added.erased == vp.PlateRecordsErased()
    listed = await client.call(vp.ListObjections(actor=ADMIN), vp.Objections)
    assert [o.objection_id for o in listed.objections] == [added.objection.objection_id]
    stored = (server.data.state_dir / "anpr_objections.json").read_text()
    assert "AB123CD" not in stored and "AB-123-CD" not in stored
    pushes.items.clear()
    await client.call(vp.ApplyConfig(config=plates_config(clip, "gate2")), vp.ConfigApplied)
    await pushes.wait(
        lambda p: _state(p, "plates", "gate2") and p.update.state.passages_today >= 1,
        "the objected plate's passage",
    )
    assert not any(is_event("watchlist_match")(p) for p in pushes.items)
    assert (await client.call(query, vp.PlateQueryResult)).passages == ()
    withdraw = vp.RemoveObjection(
        objection_id=added.objection.objection_id, actor=ADMIN, reason="withdrawn"
    )
    await client.call(withdraw, vp.Done)
    assert await refused(client, withdraw) == "unknown_objection"
    assert [len(log_entries(server, a)) for a in ("objection_add", "objection_remove")] == [1, 1]
