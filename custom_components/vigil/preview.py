"""Serve the zone preview picture that the zone flow shows in its description.

Flow descriptions are Markdown, and Home Assistant's frontend renders a Markdown image whose
address is on the same origin (the generic camera's still preview used the same approach).
An `<img>` cannot send the bearer token, so the address is signed with Home Assistant's
`async_sign_path` (the way media and camera proxies hand out addresses): the signature names
the signed-in user's refresh token and expires with the picture, and the view requires it like
any authenticated view. Each picture also has a random token of its own, so that a flow's
pictures are dropped with the flow; pictures live in memory only, for a few minutes at most.
A `data:` URL would avoid the view but puts ~100 kB into every flow message and depends on
the frontend's sanitiser keeping `data:` sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
import secrets
import time

from aiohttp import web
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

PREVIEW_URL = f"/api/{DOMAIN}/preview/{{token}}"
PREVIEW_TTL_S = 600.0

DATA_PREVIEWS: HassKey[PreviewStore] = HassKey(f"{DOMAIN}_previews")


@dataclass(slots=True)
class PreviewStore:
    """Pictures by token, each with the monotonic time it expires."""

    images: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def add(self, jpeg: bytes) -> str:
        """Keep a picture and return its token."""
        self._expire()
        token = secrets.token_urlsafe(24)
        self.images[token] = (jpeg, time.monotonic() + PREVIEW_TTL_S)
        return token

    def get(self, token: str) -> bytes | None:
        """Return a picture that has not expired."""
        self._expire()
        item = self.images.get(token)
        return item[0] if item else None

    def discard(self, token: str) -> None:
        """Forget a picture."""
        self.images.pop(token, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, until) in self.images.items() if until <= now]:
            del self.images[token]


class VigilPreviewView(HomeAssistantView):
    """Return a zone preview picture by its token."""

    url = PREVIEW_URL
    name = f"api:{DOMAIN}:preview"

    def __init__(self, store: PreviewStore) -> None:
        """Serve pictures from `store`."""
        self._store = store

    async def get(self, request: web.Request, token: str) -> web.Response:
        """Return the JPEG, or 404 once it expired or the flow ended."""
        jpeg = self._store.get(token)
        if jpeg is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        return web.Response(
            body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )


def async_preview_store(hass: HomeAssistant) -> PreviewStore:
    """Return the preview store, registering the view on first use."""
    if (store := hass.data.get(DATA_PREVIEWS)) is None:
        store = hass.data[DATA_PREVIEWS] = PreviewStore()
        hass.http.register_view(VigilPreviewView(store))
    return store


def preview_url(hass: HomeAssistant, token: str) -> str:
    """Return the signed address of a preview picture, valid as long as the picture."""
    return async_sign_path(hass, PREVIEW_URL.format(token=token), timedelta(seconds=PREVIEW_TTL_S))
