"""Subentry flows drawn on a camera's current picture: zones, rules and camera settings."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import callback

from vigil_core.errors import VigilError
from vigil_core.types import RGBImage

from .const import CONF_CAMERA
from .engine_config import slug_id, source_url
from .flow_base import VigilSubentryFlow
from .preview import async_preview_store, preview_url
from .validation import async_grab_frame, form_error


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
        self._image: RGBImage | None = None
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

    async def _async_fetch_picture(self, entry: ConfigEntry, camera_id: str) -> str | None:
        """Keep the camera's current picture for this flow; return a form error or None.

        A camera that is being analysed gives its latest frame; otherwise one frame is
        decoded from its stream (in the executor).
        """
        camera = entry.subentries.get(camera_id)
        if camera is None:
            return "unknown"
        latest = None
        if entry.state is ConfigEntryState.LOADED:
            latest = entry.runtime_data.engine.latest(slug_id(camera.subentry_id))
        try:
            self._image = (
                latest.frame.image
                if latest is not None
                else await async_grab_frame(self.hass, source_url(camera.data))
            )
        except VigilError as err:
            return form_error(err)
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
        """Return the Markdown image of the served drawing."""
        assert self._token is not None
        return f"![{name}]({preview_url(self._token)})"
