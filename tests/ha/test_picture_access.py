"""Sensitive pictures: administrators only, through Vigil's views, each view in the access log.

A real in-process Vigil server analyses the session's live test pattern; Home Assistant users
(an administrator, a read-only user, nobody) ask for the analysed frame through Vigil's view
and through Home Assistant's image proxy. The crop view is tested in test_watchlist.py.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import time
from typing import Any

from aiohttp import ClientResponse
from homeassistant.auth.models import User
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import DOMAIN
from custom_components.vigil.picture_view import FRAME_URL
from tests.ha.conftest import (
    CAMERA_SLUG,
    ENTRY_ID,
    camera_subentry,
    camera_uid,
    server_data,
    setup_entry,
    zone_subentry,
)
from vigil_core.server import VigilServer

FRAME = FRAME_URL.format(entry_id=ENTRY_ID, camera_id=CAMERA_SLUG)
OLD_FRAME_UNIQUE_ID = f"{ENTRY_ID}_{CAMERA_SLUG}_analysed_frame"
"""How an older version keyed the analysed frame (on the camera's subentry id)."""


def _entry(server: VigilServer, stream: str, context: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=server.server_id,
        data=server_data(server, context),
        subentries_data=[camera_subentry(stream), zone_subentry()],
    )


def _views(server: VigilServer) -> list[dict[str, Any]]:
    assert server.access_log is not None
    return [e for e in server.access_log.entries() if e["action"].endswith("_view")]


async def _first_picture(get: Any, not_yet: HTTPStatus = HTTPStatus.NOT_FOUND) -> ClientResponse:
    """GET until the server has analysed a frame (the stream opens before the first analysis)."""
    deadline = time.monotonic() + 60
    while (response := await get()).status == not_yet:
        assert time.monotonic() < deadline, "no analysed frame after 60 s"
        await asyncio.sleep(0.1)
    return response


async def test_public_space_frame_only_for_administrators_and_logged(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    hass_admin_user: User,
    hass_read_only_access_token: str,
) -> None:
    """In a public space the frame is no entity; the view refuses non-administrators, logs views."""
    registry = er.async_get(hass)
    entry = _entry(vigil_server, pattern_stream, "public_space")
    entry.add_to_hass(hass)
    # An image entity left by an older version goes.
    old = registry.async_get_or_create("image", DOMAIN, OLD_FRAME_UNIQUE_ID, config_entry=entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get(old.entity_id) is None
    assert not hass.states.async_entity_ids("image")

    assert (await (await hass_client_no_auth()).get(FRAME)).status == HTTPStatus.UNAUTHORIZED
    reader = await hass_client(hass_read_only_access_token)
    refused = await reader.get(FRAME)
    assert refused.status == HTTPStatus.FORBIDDEN
    assert (await refused.json())["translation_key"] == "admin_required"
    assert _views(vigil_server) == []

    admin = await hass_client()
    response = await _first_picture(lambda: admin.get(FRAME))
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert (await response.read())[:2] == b"\xff\xd8"
    views = _views(vigil_server)
    assert len(views) == 1
    assert views[0]["action"] == "snapshot_view"
    assert views[0]["target"] == CAMERA_SLUG
    assert views[0]["actor"] == {
        "user_id": hass_admin_user.id,
        "name": hass_admin_user.name,
        "is_admin": True,
    }
    # Refused before the view, so the read-only user left no trace and saw nothing.
    assert (await reader.get(FRAME)).status == HTTPStatus.FORBIDDEN
    assert len(_views(vigil_server)) == 1


async def test_private_home_frame_is_an_entity_and_not_logged(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
) -> None:
    """In a private home the household's users see the frame as an image entity, unlogged.

    Vigil's view serves it too (administrators only), unlogged: it is not sensitive here.
    """
    entry = _entry(vigil_server, pattern_stream, "private_home")
    await setup_entry(hass, entry)
    unique_id = f"{camera_uid(entry)}_analysed_frame"
    entity_id = er.async_get(hass).async_get_entity_id("image", DOMAIN, unique_id)
    assert entity_id is not None
    reader = await hass_client(hass_read_only_access_token)
    # The image proxy answers 500 while the entity has no picture yet.
    response = await _first_picture(
        lambda: reader.get(f"/api/image_proxy/{entity_id}"), HTTPStatus.INTERNAL_SERVER_ERROR
    )
    assert response.status == HTTPStatus.OK
    admin = await hass_client()
    assert (await admin.get(FRAME)).status == HTTPStatus.OK
    assert _views(vigil_server) == []
