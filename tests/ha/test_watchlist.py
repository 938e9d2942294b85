"""Plate reading in Home Assistant: flows, entities, the plate query and diagnostics."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
import json
from pathlib import Path
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.anpr_config import SUBENTRY_WATCHLIST
from custom_components.vigil.const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    DOMAIN,
)
from custom_components.vigil.privacy import DATA_ACCESS_LOG
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    FakeEngine,
    camera_subentry,
    setup_entry,
)
from vigil_core.anpr.runtime import AnprRuntime
from vigil_core.config import EngineConfig
from vigil_core.events.model import EventPhase, RuleEvent
from vigil_core.inference.registry import default_registry
from vigil_core.inference.session import SessionCache
from vigil_core.privacy.context import Acknowledgement, DeploymentContext, LegalBasis
from vigil_core.privacy.purposes import DetectorKind

default_registry()  # parsed once here, off the event loop

CAMERA2_ID = "01JVIGIL00000000000CAMERA2"
CAMERA2_SLUG = CAMERA2_ID.lower()
PLATE = "AB-123-CD"
PLATE_TEXT = "AB123CD"
WATCH_ID = "01JVIGIL0000000000WATCH001"


@pytest.fixture
def engines() -> Generator[list[FakeEngine]]:
    """Build fake engines that carry a real plate runtime (memory store, the access log)."""
    built: list[FakeEngine] = []

    def build(
        config: EngineConfig, *, loop: asyncio.AbstractEventLoop, **options: Any
    ) -> FakeEngine:
        engine = FakeEngine(config, loop=loop)
        engine.anpr = AnprRuntime(  # type: ignore[attr-defined]
            config.anpr, sessions=SessionCache(), audit=options.get("audit"), purge_interval_s=0
        )
        built.append(engine)
        return engine

    with (
        patch("custom_components.vigil.Engine", side_effect=build),
        patch(
            "custom_components.vigil._resolve_detector",
            return_value=Path("/models/yolox_nano.onnx"),
        ),
    ):
        yield built


def _camera(
    subentry_id: str, title: str, url: str, anpr: dict[str, Any] | None
) -> ConfigSubentryData:
    sub = camera_subentry(subentry_id, title, url)
    if anpr is not None:
        sub["data"] = {**sub["data"], "anpr": anpr}
    return sub


def _entry(
    context: str = "private_premises",
    privacy: str = "watchlist",
    *,
    watch: bool = True,
) -> MockConfigEntry:
    subentries = [
        _camera(
            CAMERA_ID,
            "Gate",
            "rtsp://192.0.2.10/a",
            {"enabled": True, "privacy": privacy, "full_acknowledged": privacy == "full"},
        ),
        _camera(CAMERA2_ID, "Barrier", "rtsp://192.0.2.11/b", {"enabled": True}),
    ]
    if watch:
        subentries.append(
            ConfigSubentryData(
                data={"plate": PLATE, "label": "Stolen van", "reason": "police notice"},
                subentry_id=WATCH_ID,
                subentry_type=SUBENTRY_WATCHLIST,
                title="Stolen van",
                unique_id=None,
            )
        )
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        data={CONF_DOWNLOAD_MODELS: False, CONF_DEPLOYMENT_CONTEXT: context},
        subentries_data=subentries,
    )


def _state(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _log(hass: HomeAssistant) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = hass.data[DATA_ACCESS_LOG].entries()
    return entries


def _event(kind: str, attrs: dict[str, Any], camera_id: str = CAMERA_SLUG) -> RuleEvent:
    return RuleEvent(
        kind=kind,
        camera_id=camera_id,
        rule_id="anpr",
        track_id=3,
        phase=EventPhase.INSTANT,
        at_s=1.0,
        frame_index=1,
        wall_time=time.time(),
        attrs=attrs,
    )


def _match(camera_id: str = CAMERA_SLUG) -> RuleEvent:
    return _event(
        "watchlist_match",
        {
            "entry_id": WATCH_ID.lower(),
            "label": "Stolen van",
            "reason": "police notice",
            "plate": PLATE,
            "distance": 0.3,
            "exact": False,
            "confidence": 0.91,
            "direction": "approaching",
            "crop_id": "crop-1",
        },
        camera_id,
    )


def _entity(hass: HomeAssistant, key: str, camera: str | None = CAMERA_SLUG) -> str:
    unique_id = f"{ENTRY_ID}_{camera}_{key}" if camera else f"{ENTRY_ID}_{key}"
    platform = "event" if key in ("watchlist_match", "plate_route") else "sensor"
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


# --- the watchlist flow ----------------------------------------------------------------------


# --- the plate reading flow ------------------------------------------------------------------


# --- entities --------------------------------------------------------------------------------


async def test_entities_follow_plate_events_without_plates(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    """Matches, routes and passages reach their entities; no plate unless full mode."""
    await setup_entry(hass, _entry())
    engine = engines[-1]
    match_id = _entity(hass, "watchlist_match")
    last_id = _entity(hass, "last_watchlist_match", None)
    passages_id = _entity(hass, "plate_passages")
    route_id = _entity(hass, "plate_route", None)
    assert _state(hass, passages_id).state == "0"

    engine.bus.publish(_match())
    engine.bus.publish(
        _event(
            "plate_passage", {"passages_today": 3, "direction": "approaching", "watchlisted": True}
        )
    )
    engine.bus.publish(
        _event(
            "plate_route",
            {
                "route_id": "r1",
                "entry_id": WATCH_ID.lower(),
                "label": "Stolen van",
                "cameras": [CAMERA_SLUG, CAMERA2_SLUG],
                "from_camera": CAMERA_SLUG,
                "elapsed_s": 42.0,
            },
            CAMERA2_SLUG,
        )
    )
    await hass.async_block_till_done()

    state = _state(hass, match_id)
    assert state.attributes["event_type"] == "watchlist_match"
    assert state.attributes["label"] == "Stolen van"
    assert state.attributes["reason"] == "police notice"
    assert state.attributes["distance"] == 0.3
    assert state.attributes["direction"] == "approaching"
    assert state.attributes["crop_id"] == "crop-1"
    last = _state(hass, last_id)
    assert last.state == "Stolen van"
    assert last.attributes["camera"] == "Gate"
    assert "time" in last.attributes
    assert _state(hass, passages_id).state == "3"
    route = _state(hass, route_id)
    assert route.attributes["cameras"] == ["Gate", "Barrier"]
    assert route.attributes["elapsed_s"] == 42.0
    for entity_id in (match_id, last_id, route_id, passages_id):
        assert PLATE not in json.dumps(dict(_state(hass, entity_id).attributes))
    # The other camera's match entity did not fire.
    assert _state(hass, _entity(hass, "watchlist_match", CAMERA2_SLUG)).state == "unknown"


async def test_full_mode_held_back_without_acknowledgement(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    """Full mode not acknowledged: the camera runs in watchlist mode and shows no plate."""
    await setup_entry(hass, _entry("private_premises", "full"))
    engines[-1].bus.publish(_match())
    await hass.async_block_till_done()
    assert engines[-1].config.cameras[0].anpr.privacy == "watchlist"
    assert "plate" not in _state(hass, _entity(hass, "last_watchlist_match", None)).attributes
    assert "plate" not in _state(hass, _entity(hass, "watchlist_match")).attributes


async def test_full_mode_acknowledged_shows_the_plate(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    """A camera that keeps plates in full (acknowledged) shows the matched plate."""
    entry = _entry("private_premises", "full")
    camera = entry.subentries[CAMERA_ID]
    ack = Acknowledgement(
        detector=DetectorKind.ANPR_FULL,
        legal_basis=LegalBasis("legitimate_interests"),
        justification="Repeated thefts in the private car park of the company.",
        by="Alex",
        at=dt_util.utcnow(),
        context=DeploymentContext("private_premises"),
    ).model_dump(mode="json")
    anpr = {"enabled": True, "privacy": "full", "full_acknowledged": True}
    object.__setattr__(
        camera, "data", {**camera.data, "anpr": anpr, CONF_ACKNOWLEDGEMENTS: {"anpr_full": ack}}
    )
    await setup_entry(hass, entry)
    assert engines[-1].config.cameras[0].anpr.privacy == "full"
    engines[-1].bus.publish(_match())
    await hass.async_block_till_done()
    assert _state(hass, _entity(hass, "last_watchlist_match", None)).attributes["plate"] == PLATE
    assert _state(hass, _entity(hass, "watchlist_match")).attributes["plate"] == PLATE


# --- query_plate -----------------------------------------------------------------------------


async def test_query_plate_refusals_and_answer(
    hass: HomeAssistant,
    engines: list[FakeEngine],
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """Non-admins are refused; an admin's search is answered and written to the access log."""
    await setup_entry(hass, _entry("private_premises", "hashed"))
    engine = engines[-1]
    anpr: AnprRuntime = engine.anpr  # type: ignore[attr-defined]
    now = time.time()
    await hass.async_add_executor_job(
        lambda: anpr.store().add_hashed(CAMERA_SLUG, PLATE_TEXT, now, "receding")
    )
    data = {"plate": PLATE, "reason": "police request 42"}
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "query_plate",
            data,
            blocking=True,
            return_response=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    admin = Context(user_id=hass_admin_user.id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "query_plate",
            {**data, "plate": "AB*"},
            blocking=True,
            return_response=True,
            context=admin,
        )
    assert err.value.translation_key == "invalid_plate"
    response: Any = await hass.services.async_call(
        DOMAIN, "query_plate", data, blocking=True, return_response=True, context=admin
    )
    assert response is not None
    assert response["count"] == 1
    sighting = response["sightings"][0]
    assert (sighting["camera"], sighting["direction"]) == ("Gate", "receding")
    assert "plate" not in sighting
    log = await hass.async_add_executor_job(_log, hass)
    query = log[-1]
    assert query["action"] == "plate_query"
    assert query["reason"] == "police request 42"
    assert hass_admin_user.id in query["actor"]["name"]
    assert PLATE_TEXT not in json.dumps(query)


async def test_query_plate_refused_in_watchlist_mode(
    hass: HomeAssistant, engines: list[FakeEngine], hass_admin_user: MockUser
) -> None:
    """Without a hashed or full camera there is nothing to search."""
    await setup_entry(hass, _entry())
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "query_plate",
            {"plate": PLATE, "reason": "curious"},
            blocking=True,
            return_response=True,
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "plate_queries_disabled"


# --- diagnostics -----------------------------------------------------------------------------


async def test_diagnostics_hold_no_plate(
    hass: HomeAssistant, engines: list[FakeEngine], hass_client: ClientSessionGenerator
) -> None:
    """Watchlist entries and plate settings appear without any plate."""
    entry = _entry()
    await setup_entry(hass, entry)
    engines[-1].bus.publish(_match())
    await hass.async_block_till_done()
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    assert PLATE not in text and PLATE_TEXT not in text
    assert result["anpr"]["watchlist_entries"] == 1
    assert result["anpr"]["modes"] == {CAMERA_SLUG: "watchlist", CAMERA2_SLUG: "watchlist"}


async def test_match_crop_image_shows_the_kept_crop_until_purged(
    hass: HomeAssistant, engines: list[FakeEngine], hass_client: ClientSessionGenerator
) -> None:
    """The last match's crop is an image entity, only where crops are kept, gone when purged."""
    entry = _entry()
    barrier = entry.subentries[CAMERA2_ID]
    object.__setattr__(barrier, "data", {**barrier.data, "anpr": {"enabled": True, "crops": False}})
    await setup_entry(hass, entry)
    registry = er.async_get(hass)
    image_id = registry.async_get_entity_id(
        "image", DOMAIN, f"{ENTRY_ID}_{CAMERA_SLUG}_watchlist_match_crop"
    )
    assert image_id is not None
    # The camera that keeps no crops has no such entity.
    unique_id = f"{ENTRY_ID}_{CAMERA2_SLUG}_watchlist_match_crop"
    assert registry.async_get_entity_id("image", DOMAIN, unique_id) is None
    client = await hass_client()
    url = f"/api/image_proxy/{image_id}"
    assert (await client.get(url)).status != 200  # no match yet

    anpr = engines[-1].anpr
    crop = np.full((40, 120, 3), 200, np.uint8)
    crop_id = await hass.async_add_executor_job(anpr.crops.put, crop, CAMERA_SLUG, time.time())
    match = _match()
    object.__setattr__(match, "attrs", {**match.attrs, "crop_id": crop_id})
    engines[-1].bus.publish(match)
    await hass.async_block_till_done()
    response = await client.get(url)
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert (await response.read()).startswith(b"\xff\xd8")
    assert _state(hass, image_id).state != "unknown"

    # Retention: once the store purged the crop, the picture is gone too.
    await hass.async_add_executor_job(anpr.crops.purge, time.time() + 1)
    assert (await client.get(url)).status != 200
