"""Frigate in the camera flow: a server's cameras (several at once) and its zones.

*Why subentries are added by hand.* In Home Assistant 2025.4 a subentry flow ends by creating
one subentry. Choosing several Frigate cameras, and importing their zones (zone subentries that
name their camera's subentry id), needs more than one: the flow adds them itself with
``ConfigEntries.async_add_subentry`` and ends with an abort that says how many were added. A
single camera without zones still ends the usual way, by creating its subentry.

The Vigil server reads Frigate's API (`FetchFrigate`) and probes each restream; a Frigate login
that stops working later is a repair issue (frigate_setup.py, repairs.py).
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry, SubentryFlowResult
from homeassistant.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.shapes import ShapeError, check_polygon

from .client import VigilClientError
from .const import (
    CONF_CAMERA,
    CONF_CAMERA_KEY,
    CONF_CLASSES,
    CONF_DETECT_HEIGHT,
    CONF_DETECT_WIDTH,
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERA,
    CONF_FRIGATE_CAMERAS,
    CONF_IMPORT_ZONES,
    CONF_INERTIA,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    CONF_TOPIC_PREFIX,
    DEFAULT_INERTIA,
    DETECTIONS_FRIGATE,
    DETECTIONS_VIGIL,
    OBJECT_CLASSES,
    SOURCE_FRIGATE,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from .flow_base import (
    PASSWORD_FIELD,
    TEXT_FIELD,
    URL_FIELD,
    VigilSubentryFlow,
    camera_subentries,
    kept_password,
    without_password,
)
from .server_config import frigate_info
from .validation import (
    form_error,
    frigate_stream_url,
    frigate_unique_id,
    valid_stream_url,
)

_LOGGER = logging.getLogger(__name__)

MQTT_DOMAIN = "mqtt"

FRIGATE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_URL): URL_FIELD,
        vol.Optional(CONF_USERNAME): TEXT_FIELD,
        vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
        vol.Required(CONF_VERIFY_SSL, default=True): BooleanSelector(),
    }
)
DETECTIONS_FIELD = SelectSelector(
    SelectSelectorConfig(
        options=[DETECTIONS_FRIGATE, DETECTIONS_VIGIL],
        translation_key=CONF_DETECTIONS,
        mode=SelectSelectorMode.LIST,
    )
)


def mqtt_configured(hass: HomeAssistant) -> bool:
    """Return whether Home Assistant's MQTT integration is set up (it names Frigate's broker)."""
    return hass.config_entries.async_has_entries(
        MQTT_DOMAIN, include_disabled=False, include_ignore=False
    )


def frigate_server_cameras(entry: ConfigEntry, api_url: str) -> list[ConfigSubentry]:
    """Return the camera subentries of one Frigate server (they share its login)."""
    return [
        subentry
        for subentry in camera_subentries(entry)
        if (info := frigate_info(subentry.data)) is not None and info.api_url == api_url
    ]


def _titles(chosen: list[vp.FrigateCamera], name: str) -> dict[str, str]:
    """Return the title each chosen camera gets: the typed name for one camera, else Frigate's."""
    return {camera.name: name if name and len(chosen) == 1 else _title(camera) for camera in chosen}


def _title(camera: vp.FrigateCamera) -> str:
    return camera.friendly_name or camera.name


class FrigateCameraFlow(VigilSubentryFlow):
    """The camera subentry flow's Frigate steps: the server, then its cameras."""

    _frigate: dict[str, Any]
    _frigate_server: vp.FrigateServer | None
    _saved: dict[str, Any]

    @property
    def _frigate_cameras(self) -> dict[str, vp.FrigateCamera]:
        """Return the server's enabled cameras that go2rtc restreams, by name."""
        server = self._frigate_server
        assert server is not None
        return {
            camera.name: camera
            for camera in server.cameras
            if camera.enabled and frigate_stream_url(camera)
        }

    async def async_step_frigate(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Connect to a Frigate server and list its cameras."""
        errors: dict[str, str] = {}
        if user_input is not None:
            url = str(user_input[CONF_URL]).strip().rstrip("/")
            self._frigate = {
                CONF_URL: url,
                CONF_USERNAME: user_input.get(CONF_USERNAME) or "",
                CONF_PASSWORD: kept_password(self._saved, user_input) or "",
                CONF_VERIFY_SSL: bool(user_input.get(CONF_VERIFY_SSL, True)),
            }
            if not valid_stream_url(url) or not url.lower().startswith("http"):
                errors[CONF_URL] = "invalid_url"
            else:
                try:
                    self._frigate_server = await self._async_call(
                        vp.FetchFrigate(
                            url=url,
                            username=self._frigate[CONF_USERNAME] or None,
                            password=self._frigate[CONF_PASSWORD] or None,
                            verify_ssl=self._frigate[CONF_VERIFY_SSL],
                        ),
                        vp.FrigateServer,
                    )
                except VigilClientError as err:
                    errors["base"] = form_error(err)
                else:
                    if not self._frigate_cameras:
                        errors["base"] = "no_frigate_cameras"
                    else:
                        return await self.async_step_frigate_camera()
        return self.async_show_form(
            step_id="frigate",
            data_schema=self.add_suggested_values_to_schema(
                FRIGATE_SCHEMA, without_password(user_input or self._saved)
            ),
            errors=errors,
        )

    async def async_step_frigate_camera(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick Frigate's cameras and whose detections to use; check their restreams; save."""
        if self._reconfiguring:
            return await self._async_reconfigure_frigate_camera(user_input)
        errors: dict[str, str] = {}
        cameras = self._frigate_cameras
        if user_input is not None:
            chosen = [cameras[name] for name in user_input.get(CONF_FRIGATE_CAMERAS) or ()]
            detections = str(user_input[CONF_DETECTIONS])
            name = str(user_input.get(CONF_NAME) or "").strip()
            errors = await self._async_check(chosen, detections, CONF_FRIGATE_CAMERAS)
            if not errors and any(map(self._name_taken, _titles(chosen, name).values())):
                field = CONF_NAME if name and len(chosen) == 1 else CONF_FRIGATE_CAMERAS
                errors = {field: "name_taken"}
            if not errors:
                return self._add(chosen, detections, bool(user_input[CONF_IMPORT_ZONES]), name)
        first = next(iter(cameras))
        schema = vol.Schema(
            {
                vol.Required(CONF_FRIGATE_CAMERAS, default=[first]): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=name, label=_title(camera))
                            for name, camera in cameras.items()
                        ],
                        multiple=True,
                        mode=SelectSelectorMode.LIST,
                    )
                ),
                vol.Required(CONF_DETECTIONS, default=self._default_detections()): DETECTIONS_FIELD,
                vol.Required(CONF_IMPORT_ZONES, default=True): BooleanSelector(),
                vol.Optional(CONF_NAME): TEXT_FIELD,
            }
        )
        return self.async_show_form(
            step_id="frigate_camera",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def _async_reconfigure_frigate_camera(
        self, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """Switch a Frigate camera to another camera of the server or detection mode."""
        errors: dict[str, str] = {}
        cameras = self._frigate_cameras
        if user_input is not None:
            camera = cameras[user_input[CONF_FRIGATE_CAMERA]]
            detections = str(user_input[CONF_DETECTIONS])
            name = str(user_input.get(CONF_NAME) or _title(camera)).strip()
            errors = await self._async_check([camera], detections, "base")
            if not errors and self._name_taken(name):
                errors = {CONF_NAME: "name_taken"}
            if not errors:
                data = self._camera_data(camera, detections)
                unique_id = frigate_unique_id(self._frigate[CONF_URL], camera.name)
                return self._finish(name, data, unique_id)
        default = self._saved.get(CONF_FRIGATE_CAMERA)
        if default not in cameras:
            default = next(iter(cameras))
        schema = vol.Schema(
            {
                vol.Required(CONF_FRIGATE_CAMERA, default=default): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=name, label=_title(camera))
                            for name, camera in cameras.items()
                        ],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Required(
                    CONF_DETECTIONS,
                    default=self._saved.get(CONF_DETECTIONS, DETECTIONS_VIGIL),
                ): DETECTIONS_FIELD,
                vol.Optional(CONF_NAME): TEXT_FIELD,
            }
        )
        suggested = user_input or {CONF_NAME: self._saved.get(CONF_NAME, "")}
        return self.async_show_form(
            step_id="frigate_camera",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    def _default_detections(self) -> str:
        return DETECTIONS_FRIGATE if mqtt_configured(self.hass) else DETECTIONS_VIGIL

    async def _async_check(
        self, chosen: list[vp.FrigateCamera], detections: str, field: str
    ) -> dict[str, str]:
        """Return the form errors of a choice of cameras, probing each restream."""
        if not chosen:
            return {field: "no_camera_chosen"}
        if detections == DETECTIONS_FRIGATE:
            if not mqtt_configured(self.hass):
                return {CONF_DETECTIONS: "mqtt_required"}
            if any(not camera.width or not camera.height for camera in chosen):
                return {"base": "no_detect_size"}
        for camera in chosen:
            if self._is_duplicate_camera(frigate_unique_id(self._frigate[CONF_URL], camera.name)):
                return {"base": "already_configured"}
        for camera in chosen:
            # Frigate's login is the API's, not the restream's: it stays out of the probe.
            if error := await self._async_probe(str(frigate_stream_url(camera))):
                return {"base": error}
        return {}

    def _camera_data(self, camera: vp.FrigateCamera, detections: str) -> dict[str, Any]:
        """Return a camera subentry's data; Frigate's login stays out of the restream URL."""
        server = self._frigate_server
        assert server is not None
        data: dict[str, Any] = {
            CONF_SOURCE_TYPE: SOURCE_FRIGATE,
            **{key: value for key, value in self._frigate.items() if value != ""},
            CONF_FRIGATE_CAMERA: camera.name,
            CONF_STREAM_URL: frigate_stream_url(camera),
            CONF_DETECTIONS: detections,
            CONF_TOPIC_PREFIX: server.topic_prefix,
            CONF_CAMERA_KEY: self._camera_key(
                frigate_unique_id(self._frigate[CONF_URL], camera.name)
            ),
        }
        if camera.width and camera.height:
            data[CONF_DETECT_WIDTH], data[CONF_DETECT_HEIGHT] = camera.width, camera.height
        return data

    def _add(
        self, chosen: list[vp.FrigateCamera], detections: str, import_zones: bool, name: str
    ) -> SubentryFlowResult:
        """Create the camera subentries and, when asked, a zone subentry per Frigate zone."""
        zones = {
            camera.name: _zones(camera, detections) if import_zones else [] for camera in chosen
        }
        titles = _titles(chosen, name)
        if len(chosen) == 1 and not zones[chosen[0].name]:
            camera = chosen[0]
            return self.async_create_entry(
                title=titles[camera.name],
                data=self._camera_data(camera, detections),
                unique_id=frigate_unique_id(self._frigate[CONF_URL], camera.name),
            )
        entry = self._get_entry()
        added = 0
        for camera in chosen:
            subentry = ConfigSubentry(
                data=MappingProxyType(self._camera_data(camera, detections)),
                subentry_type=SUBENTRY_CAMERA,
                title=titles[camera.name],
                unique_id=frigate_unique_id(self._frigate[CONF_URL], camera.name),
            )
            self.hass.config_entries.async_add_subentry(entry, subentry)
            for title, data in zones[camera.name]:
                zone = ConfigSubentry(
                    data=MappingProxyType({**data, CONF_CAMERA: subentry.subentry_id}),
                    subentry_type=SUBENTRY_ZONE,
                    title=title,
                    unique_id=None,
                )
                self.hass.config_entries.async_add_subentry(entry, zone)
                added += 1
        return self.async_abort(
            reason="frigate_cameras_added",
            description_placeholders={"cameras": str(len(chosen)), "zones": str(added)},
        )


def _zones(camera: vp.FrigateCamera, detections: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (title, zone data) for each of a camera's Frigate zones Vigil can use.

    Vigil's own detector knows fewer classes than Frigate (no dog, no package): a zone that
    watches none of them watches every class Vigil detects.
    """
    zones = []
    for zone in camera.zones:
        try:
            check_polygon(zone.polygon)
        except ShapeError as err:
            _LOGGER.warning("Frigate zone %s/%s not imported: %s", camera.name, zone.id, err)
            continue
        classes = list(zone.objects)
        if detections == DETECTIONS_VIGIL:
            classes = [label for label in classes if label in OBJECT_CLASSES]
        data = {
            CONF_POLYGON: [[x, y] for x, y in zone.polygon],
            CONF_CLASSES: classes,
            CONF_INERTIA: DEFAULT_INERTIA,
        }
        zones.append((zone.name or zone.id, data))
    return zones
