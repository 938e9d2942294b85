"""Sensitive pictures for administrators only, each view written to the server's access log.

Home Assistant's image entities are served by its image proxy to any signed-in user, or to
anyone holding the entity's access token (a state attribute every user can read), and
`ImageEntity.async_image` is never told who asked. So a picture that shows a person or a plate
is not an image entity: these views serve it instead. They need a signed-in Home Assistant
user (a bearer token, or a path signed with `auth/sign_path`), refuse anyone but an
administrator, and pass the user to the server, which writes `crop_view` / `snapshot_view` to
its access log before it answers and refuses a sensitive picture that names nobody.

- `/api/vigil/{entry_id}/crops/{crop_id}.jpg`: a kept plate crop (the `crop_id` of a
  `watchlist_match` event).
- `/api/vigil/{entry_id}/cameras/{camera_id}/picture.jpg`: a camera's latest analysed frame,
  boxes and zones drawn.
"""

from __future__ import annotations

from http import HTTPStatus
import logging
import re
from typing import Final

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.components.http import KEY_HASS, KEY_HASS_USER, HomeAssistantView
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONTENT_TYPE_JSON
from homeassistant.core import HomeAssistant, callback

import vigil_protocol as vp
from vigil_protocol.privacy import Artefact, DeploymentContext, picture_is_sensitive

from .client import ServerError, VigilClientError
from .const import CONF_DEPLOYMENT_CONTEXT, DOMAIN, SNAPSHOT_MAX_WIDTH
from .data import VigilConfigEntry

_LOGGER = logging.getLogger(__name__)

CROP_URL: Final = "/api/vigil/{entry_id}/crops/{crop_id}.jpg"
FRAME_URL: Final = "/api/vigil/{entry_id}/cameras/{camera_id}/picture.jpg"
FRAME_PARAMS: Final = {"boxes": "1", "zones": "1", "width": str(SNAPSHOT_MAX_WIDTH)}
"""The analysed frame as the image entity showed it: tracks and zones drawn."""
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Camera and crop ids (slugs, hex): nothing else is passed on to the server's paths."""


def entry_context(entry: VigilConfigEntry) -> DeploymentContext | None:
    """Return the entry's deployment context (None when none is declared)."""
    value = entry.data.get(CONF_DEPLOYMENT_CONTEXT)
    try:
        return DeploymentContext(str(value)) if value is not None else None
    except ValueError:
        return None


def frames_sensitive(entry: VigilConfigEntry) -> bool:
    """Return whether the entry's analysed frames are for administrators only (and logged)."""
    return picture_is_sensitive(Artefact.SNAPSHOTS, entry_context(entry))


def actor_of(user: User) -> vp.Actor:
    """Return the actor the server's access log records for a Home Assistant user."""
    return vp.Actor(name=user.name or "", user_id=user.id, is_admin=user.is_admin, origin="user")


@callback
def async_register_picture_views(hass: HomeAssistant) -> None:
    """Register the two views (once per Home Assistant)."""
    hass.http.register_view(VigilCropView())
    hass.http.register_view(VigilFrameView())


class _PictureView(HomeAssistantView):
    """Check the user and the entry, fetch the picture from the server as that user."""

    requires_auth = True

    def _refuse(self, status: HTTPStatus, key: str) -> web.Response:
        return web.json_response(
            {"translation_key": key}, status=status, content_type=CONTENT_TYPE_JSON
        )

    async def _serve(
        self, request: web.Request, entry_id: str, path: str, params: dict[str, str] | None
    ) -> web.Response:
        user: User = request[KEY_HASS_USER]
        if not user.is_admin:
            _LOGGER.warning("Refused a Vigil picture to %s: not an administrator", user.name)
            return self._refuse(HTTPStatus.FORBIDDEN, "admin_required")
        hass = request.app[KEY_HASS]
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
            return self._refuse(HTTPStatus.NOT_FOUND, "unknown_server")
        vigil_entry: VigilConfigEntry = entry
        client = vigil_entry.runtime_data.store.client
        try:
            jpeg = await client.fetch(path, params, actor=actor_of(user))
        except ServerError as err:
            status = HTTPStatus.NOT_FOUND if err.translation_key == "no_picture" else None
            return self._refuse(status or HTTPStatus.BAD_GATEWAY, err.translation_key)
        except VigilClientError:
            return self._refuse(HTTPStatus.BAD_GATEWAY, "cannot_connect")
        return web.Response(body=jpeg, content_type="image/jpeg")


class VigilCropView(_PictureView):
    """A kept plate crop, for administrators; the server logs each view (`crop_view`)."""

    url = CROP_URL
    name = "api:vigil:crop"

    async def get(self, request: web.Request, entry_id: str, crop_id: str) -> web.Response:
        """Return the crop's JPEG."""
        if not _ID.match(crop_id):
            return self._refuse(HTTPStatus.NOT_FOUND, "no_picture")
        return await self._serve(request, entry_id, f"/api/crops/{crop_id}.jpg", None)


class VigilFrameView(_PictureView):
    """A camera's analysed frame, for administrators; logged where it is sensitive."""

    url = FRAME_URL
    name = "api:vigil:analysed_frame"

    async def get(self, request: web.Request, entry_id: str, camera_id: str) -> web.Response:
        """Return the frame's JPEG, tracks and zones drawn."""
        if not _ID.match(camera_id):
            return self._refuse(HTTPStatus.NOT_FOUND, "no_picture")
        path = f"/api/cameras/{camera_id}/picture.jpg"
        return await self._serve(request, entry_id, path, FRAME_PARAMS)
