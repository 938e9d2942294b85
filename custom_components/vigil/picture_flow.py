"""Subentry flows drawn on a camera's picture: zones, rules and camera settings.

The picture comes from the server: the camera's latest analysed frame while it runs, or a frame
a `ProbeStream` decoded and kept. Drawings (grid, areas, A→B lines) are made by the server
(`POST /api/render`), which blanks the camera's privacy masks on them first, and the mask being
drawn too. What a form would save is checked by a dry run of the server's configuration, so a
form never saves a zone, rule or setting the server would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import logging
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import callback

from .client import ServerError, VigilClientError
from .const import (
    CONF_CAMERA,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    SNAPSHOT_MAX_WIDTH,
    SOURCE_FRIGATE,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
)
from .flow_base import VigilSubentryFlow
from .preview import async_preview_store, preview_url
from .server_config import (
    CONF_KIND,
    KIND_PRIVACY_MASK,
    SUBENTRY_CAMERA_SETTING,
    camera_config,
    privacy_config,
    slug_id,
)
from .validation import form_error

_LOGGER = logging.getLogger(__name__)

type Json = dict[str, Any]
type Points = Sequence[Sequence[float]]

CANDIDATE_ID: Final = "candidate"
"""The id a new zone or rule has in a dry run (its subentry id does not exist yet)."""
NO_PICTURE: Final = "no_picture"


def stream_credentials(data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """Return a camera subentry's stream URL, username and password (Frigate's: no login)."""
    source_type = data[CONF_SOURCE_TYPE]
    if source_type == SOURCE_FRIGATE:
        return str(data[CONF_STREAM_URL]), None, None
    url = str(data[CONF_URL] if source_type == SOURCE_STREAM else data[CONF_STREAM_URL])
    return url, data.get(CONF_USERNAME) or None, data.get(CONF_PASSWORD) or None


def camera_masks(
    entry: ConfigEntry, camera_subentry_id: str, exclude: str | None = None
) -> list[list[list[float]]]:
    """Return the privacy masks saved for a camera, but the one of subentry `exclude`."""
    return [
        [[float(x), float(y)] for x, y in sub.data[CONF_POLYGON]]
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_CAMERA_SETTING
        and sub.subentry_id != exclude
        and sub.data.get(CONF_CAMERA) == camera_subentry_id
        and sub.data.get(CONF_KIND) == KIND_PRIVACY_MASK
    ]


def shape(name: str, points: Points) -> Json:
    """Return a named shape of a drawing request."""
    return {"name": name, "points": [[float(x), float(y)] for x, y in points]}


def dry_run_config(
    entry: ConfigEntry,
    camera_subentry: ConfigSubentry,
    section: str,
    item: Json,
    current: str | None = None,
) -> tuple[Json, str]:
    """Return the configuration that checks `item` on its camera, and the item's field prefix.

    `section` is ``zones`` or ``rules`` (the item replaces subentry `current`, if any),
    ``privacy_masks`` (a polygon, in place of mask `current`) or ``calibration``. The camera
    is checked alone, with its zones, rules and settings, in the entry's privacy context.
    """
    camera = camera_config(entry, camera_subentry)
    if section == "calibration":
        camera["calibration"] = item
        prefix = "cameras.0.calibration"
    elif section == "privacy_masks":
        masks = camera_masks(entry, camera_subentry.subentry_id, exclude=current)
        camera["privacy_masks"] = [*masks, item[CONF_POLYGON]]
        prefix = f"cameras.0.privacy_masks.{len(masks)}"
    else:
        own = slug_id(current) if current else CANDIDATE_ID
        items = [other for other in camera[section] if other["id"] != own]
        camera[section] = [*items, {**item, "id": own}]
        prefix = f"cameras.0.{section}.{len(items)}"
    return {"cameras": [camera], "privacy": privacy_config(entry)}, prefix


class PictureSubentryFlow(VigilSubentryFlow):
    """Keep one picture of the chosen camera per flow and serve drawings on it to the form.

    HA forms have no image field: the drawing is served at a one-off preview URL and shown as
    Markdown in the step description; it is dropped when the next one replaces it or the flow
    ends.
    """

    subentry_type: str
    """The subentry type the flow saves (set by each flow class)."""

    def __init__(self) -> None:
        """Start with no picture."""
        super().__init__()
        self._source: dict[str, str] | None = None
        self._raw = False
        self._camera_subentry_id: str | None = None
        self._token: str | None = None

    @callback
    def async_remove(self) -> None:
        """Forget the picture when the flow ends."""
        self._drop_picture()

    def _is_duplicate_name(self, camera: str, name: str) -> bool:
        """Return whether another subentry of this type on the camera has this name."""
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        return any(
            sub.subentry_type == self.subentry_type
            and sub.subentry_id != current
            and sub.data.get(CONF_CAMERA) == camera
            and sub.title.casefold() == name.casefold()
            for sub in self._get_entry().subentries.values()
        )

    def _camera(self) -> ConfigSubentry:
        """Return the chosen camera's subentry."""
        assert self._camera_subentry_id is not None
        return self._get_entry().subentries[self._camera_subentry_id]

    # --- the picture ----------------------------------------------------------------------

    async def _async_fetch_picture(
        self, camera_subentry_id: str, *, raw: bool = False
    ) -> str | None:
        """Choose the picture this flow draws on; return a form error or None.

        A camera the server analyses gives its latest frame (already masked). Otherwise, or
        with `raw` (a privacy mask is being drawn: the analysed frame has the old mask burnt
        in), the server decodes one frame of the camera's stream and keeps it for the flow.
        """
        camera = self._get_entry().subentries.get(camera_subentry_id)
        if camera is None or camera.subentry_type != SUBENTRY_CAMERA:
            return "unknown"
        self._camera_subentry_id, self._raw = camera_subentry_id, raw
        camera_id = slug_id(camera_subentry_id)
        try:
            if not raw and await self._async_has_picture(camera_id):
                self._source = {"camera_id": camera_id}
                return None
            probe = await self._async_probe_stream(*stream_credentials(camera.data))
        except VigilClientError as err:
            return form_error(err)
        self._source = {"frame_id": str(probe.frame_id)}
        return None

    async def _async_has_picture(self, camera_id: str) -> bool:
        """Return whether the server has an analysed frame of the camera (else it says why).

        Asked through the forms' drawing route: the camera's picture route serves a sensitive
        frame only to a named administrator, and a form knows no user.
        """
        try:
            await self._client.render({"camera_id": camera_id, "max_width": 64})
        except ServerError as err:
            _LOGGER.debug("No analysed frame of %s: %s", camera_id, err.message)
            return False
        return True

    async def _async_draw(
        self,
        *,
        areas: Iterable[Json] = (),
        lines: Iterable[Json] = (),
        masks: Iterable[Points] = (),
    ) -> str | None:
        """Draw on the picture (the camera's masks blanked) and serve it; return a form error."""
        camera = self._camera()
        # A mask being reconfigured is drawn as typed now, not as it was saved.
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        drawing: Json = {
            "areas": list(areas),
            "lines": list(lines),
            "masks": [
                *camera_masks(self._get_entry(), camera.subentry_id, exclude=current),
                *(shape("", mask)["points"] for mask in masks),
            ],
            "grid": True,
            "max_width": SNAPSHOT_MAX_WIDTH,
        }
        error = await self._async_render(drawing)
        if error == NO_PICTURE:
            # The camera restarted, or the kept frame expired (minutes): take a new picture.
            _LOGGER.debug("The picture of this flow is gone; taking a new one")
            error = await self._async_fetch_picture(
                camera.subentry_id, raw=self._raw
            ) or await self._async_render(drawing)
        return "unknown" if error == NO_PICTURE else error

    async def _async_render(self, drawing: Json) -> str | None:
        """Render once and serve the picture; return None, NO_PICTURE or a form error."""
        assert self._source is not None
        try:
            jpeg = await self._client.render({**self._source, **drawing})
        except ServerError as err:
            return NO_PICTURE if err.translation_key == NO_PICTURE else form_error(err)
        except VigilClientError as err:
            return form_error(err)
        self._serve_picture(jpeg)
        return None

    def _serve_picture(self, jpeg: bytes) -> None:
        """Serve a new drawing to the form in place of the previous one."""
        self._drop_picture()
        self._token = async_preview_store(self.hass).add(jpeg)

    def _drop_picture(self) -> None:
        if self._token is not None:
            async_preview_store(self.hass).discard(self._token)
            self._token = None

    def _picture_markdown(self, name: str) -> str:
        """Return the Markdown image of the served drawing (empty when none could be drawn)."""
        if self._token is None:
            return ""
        return f"![{name}]({preview_url(self.hass, self._token)})"

    # --- the server's check ---------------------------------------------------------------

    async def _async_dry_run(
        self,
        section: str,
        item: Json,
        form_fields: Mapping[str, str],
        known: Iterable[str],
        *,
        default: str = "base",
        fallback_base: str = "invalid_settings",
    ) -> dict[str, str]:
        """Ask the server whether the camera, with `item` in `section`, is valid; return errors.

        See `dry_run_config`; the item replaces the subentry being reconfigured.
        """
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        config, prefix = dry_run_config(self._get_entry(), self._camera(), section, item, current)
        return await self._async_dry_run_config(
            config, prefix, form_fields, known, default=default, fallback_base=fallback_base
        )
