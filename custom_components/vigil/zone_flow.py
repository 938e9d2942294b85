"""Zone subentry flow: name and camera, the polygon over the camera's picture, a preview."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.config_entries import ConfigSubentry, SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from vigil_protocol.privacy import DetectorKind
from vigil_protocol.shapes import ShapeProblem

from .const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_POLYGON,
    DEFAULT_CLASSES,
    DEFAULT_INERTIA,
    OBJECT_CLASSES,
    SUBENTRY_ZONE,
)
from .flow_base import TEXT_FIELD, camera_subentries
from .panel import panel_url
from .picture_flow import PictureSubentryFlow, shape
from .privacy_flow import PrivacyGate
from .validation import format_points, parse_polygon

type Point = tuple[float, float]

ZONE_FIELDS: Final = {
    CONF_POLYGON: CONF_POLYGON,
    CONF_CLASSES: CONF_CLASSES,
    CONF_INERTIA: CONF_INERTIA,
    CONF_MIN_DWELL: CONF_MIN_DWELL,
}
"""The server's zone fields and the form's."""
SERVER_ERRORS: Final = frozenset(
    {"out_of_range", "invalid_value", *(problem.value for problem in ShapeProblem)}
)
"""The server's field errors the zone form translates."""

ZONE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_POLYGON): TEXT_FIELD,
        vol.Optional(CONF_CLASSES): SelectSelector(
            SelectSelectorConfig(
                options=list(OBJECT_CLASSES),
                multiple=True,
                mode=SelectSelectorMode.LIST,
                translation_key="object_class",
            )
        ),
        vol.Required(CONF_INERTIA, default=DEFAULT_INERTIA): NumberSelector(
            NumberSelectorConfig(min=1, max=100, step=1, mode=NumberSelectorMode.BOX)
        ),
        vol.Optional(CONF_MIN_DWELL, default=0): NumberSelector(
            NumberSelectorConfig(
                min=0, max=3600, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="s"
            )
        ),
    }
)


class ZoneSubentryFlow(PrivacyGate, PictureSubentryFlow):
    """Draw a zone on a camera's picture, check it, and save it."""

    subentry_type = SUBENTRY_ZONE

    def __init__(self) -> None:
        """Start with an empty form."""
        super().__init__()
        self._input: dict[str, Any] = {}
        self._points: list[Point] = []

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name the zone and pick its camera."""
        return await self._async_camera_form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a zone, starting from what was saved."""
        if user_input is None and not self._input:
            subentry = self._get_reconfigure_subentry()
            self._input = {
                CONF_NAME: subentry.title,
                CONF_CAMERA: subentry.data[CONF_CAMERA],
                CONF_POLYGON: format_points(subentry.data[CONF_POLYGON]),
                CONF_CLASSES: list(subentry.data.get(CONF_CLASSES, [])),
                CONF_INERTIA: subentry.data.get(CONF_INERTIA, DEFAULT_INERTIA),
                CONF_MIN_DWELL: subentry.data.get(CONF_MIN_DWELL, 0),
            }
        return await self._async_camera_form("reconfigure", user_input)

    async def async_step_zone(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Type the polygon over the camera's picture; choose the classes and the inertia."""
        errors: dict[str, str] = {}
        current: list[Point] = []
        if user_input is not None:
            # No class chosen (every class) leaves the key out of the form's answer.
            self._input.update({CONF_CLASSES: []} | user_input)
            current, error = parse_polygon(str(user_input[CONF_POLYGON]))
            if error:
                errors[CONF_POLYGON] = error
            else:
                errors = await self._async_dry_run(
                    "zones", self._zone(current), ZONE_FIELDS, SERVER_ERRORS
                )
        elif polygon := self._input.get(CONF_POLYGON):
            current, _error = parse_polygon(str(polygon))
        # A polygon the server refuses is not drawn; the rest of the picture still is.
        drawn = [] if errors else current
        draw_error = await self._async_draw_zone(drawn)
        if user_input is not None and not errors and not draw_error:
            self._points = current
            return await self.async_step_preview()
        if draw_error:
            errors.setdefault("base", draw_error)
        return self.async_show_form(
            step_id="zone",
            data_schema=self.add_suggested_values_to_schema(
                ZONE_SCHEMA, {CONF_CLASSES: list(DEFAULT_CLASSES)} | self._input
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show the zone on the camera's picture: save it, or edit it again."""
        return self.async_show_menu(
            step_id="preview",
            menu_options=["save", "zone"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_save(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Save the zone that was previewed, once its context allows what it does."""
        data: dict[str, Any] = {
            CONF_CAMERA: self._input[CONF_CAMERA],
            CONF_POLYGON: [[x, y] for x, y in self._points],
            CONF_CLASSES: list(self._input.get(CONF_CLASSES, [])),
            CONF_INERTIA: int(self._input.get(CONF_INERTIA, DEFAULT_INERTIA)),
        }
        kind = DetectorKind.ZONE_PRESENCE
        if dwell := float(self._input.get(CONF_MIN_DWELL) or 0):
            # A zone that waits for a dwell time is a loitering alert, gated in public space.
            data[CONF_MIN_DWELL] = dwell
            kind = DetectorKind.LOITERING

        async def finish(acknowledgements: dict[str, Any]) -> SubentryFlowResult:
            if acknowledgements:
                data[CONF_ACKNOWLEDGEMENTS] = acknowledgements
            return self._finish(self._input[CONF_NAME], data)

        return await self.async_gate([kind], finish)

    async def _async_camera_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        if missing := self._server_missing():
            return missing
        entry = self._get_entry()
        cameras = camera_subentries(entry)
        if not cameras:
            return self.async_abort(reason="no_cameras")
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip()
            self._input.update({CONF_NAME: name, CONF_CAMERA: user_input[CONF_CAMERA]})
            if self._is_duplicate_name(user_input[CONF_CAMERA], name):
                errors[CONF_NAME] = "zone_exists"
            elif error := await self._async_fetch_picture(user_input[CONF_CAMERA]):
                errors["base"] = error
            else:
                return await self.async_step_zone()
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _zone_camera_schema(cameras), self._input
            ),
            errors=errors,
        )

    def _zone(self, points: list[Point]) -> dict[str, Any]:
        """Return the server's zone of what the form holds."""
        return {
            "name": self._input[CONF_NAME],
            "polygon": [[x, y] for x, y in points],
            "classes": list(self._input.get(CONF_CLASSES, [])),
            "inertia": int(self._input.get(CONF_INERTIA, DEFAULT_INERTIA)),
            "min_dwell_s": float(self._input.get(CONF_MIN_DWELL) or 0),
        }

    async def _async_draw_zone(self, points: list[Point]) -> str | None:
        """Draw the grid and the zone on the picture for this flow's form."""
        areas = [shape(self._input[CONF_NAME], points)] if points else []
        return await self._async_draw(areas=areas)

    def _placeholders(self) -> dict[str, str]:
        name = self._input[CONF_NAME]
        return {
            "zone": name,
            "picture": self._picture_markdown(name),
            "editor": panel_url(self._input[CONF_CAMERA]),
        }


def _zone_camera_schema(cameras: list[ConfigSubentry]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_NAME): TEXT_FIELD,
            vol.Required(CONF_CAMERA, default=cameras[0].subentry_id): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=camera.subentry_id, label=camera.title)
                        for camera in cameras
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
        }
    )
