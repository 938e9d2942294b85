"""Rule and camera-setting subentry flows: pick a kind, type its geometry, check it on a picture.

One subentry type holds every rule kind (a menu picks it) rather than one type per kind: the
steps, errors and the preview are shared, and Home Assistant lists them under one "Add rule".
Privacy masks and the ground calibration are camera settings, their own subentry type, built
from the same steps. The form checks what it can read (points, shapes, what needs a
calibration); the server then checks the whole camera with the new rule or setting (a dry run)
and its field errors land on the form's fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    BooleanSelector,
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
    CONF_POLYGON,
    OBJECT_CLASSES,
    SUBENTRY_ZONE,
)
from .flow_base import TEXT_FIELD, camera_subentries
from .panel import panel_url
from .picture_flow import PictureSubentryFlow, shape
from .privacy_flow import PrivacyGate
from .server_config import (
    CONF_ALLOWED_DIRECTION,
    CONF_CRITICAL,
    CONF_DETECT,
    CONF_DIRECTION,
    CONF_DISTANCES,
    CONF_DWELL,
    CONF_GROUND_POINTS,
    CONF_HIGH,
    CONF_IMAGE_POINTS,
    CONF_KIND,
    CONF_LINE,
    CONF_MAX_STEP,
    CONF_METRIC,
    CONF_MIN_DURATION,
    CONF_MOVEMENT,
    CONF_SPEED,
    CONF_SPEED_UNIT,
    CONF_STATIC,
    CONF_TOLERANCE,
    CONF_ZONE,
    CONF_ZONES,
    KIND_CALIBRATION,
    KIND_CROWD,
    KIND_FAST_MOVE,
    KIND_LINE,
    KIND_LOITERING,
    KIND_OBJECT_LEFT,
    KIND_PRIVACY_MASK,
    KIND_ROUTE,
    KIND_WRONG_WAY,
    RULE_KINDS,
    SETTING_KINDS,
    SPEED_KMH,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
    calibration_config,
    rule_fields,
)
from .validation import format_points, parse_line, parse_numbers, parse_polygon

type Point = tuple[float, float]

# Kinds that watch an area: their own polygon, or one of the camera's zones.
REGION_KINDS: Final = frozenset(
    {KIND_LOITERING, KIND_CROWD, KIND_FAST_MOVE, KIND_WRONG_WAY, KIND_OBJECT_LEFT}
)
REGION_REQUIRED: Final = frozenset({KIND_LOITERING, KIND_CROWD, KIND_WRONG_WAY})
LINE_KINDS: Final = frozenset({KIND_LINE, KIND_WRONG_WAY})
"""Kinds drawn with a directed line A → B (their preview explains it)."""
# Form fields holding point lists, shown and typed as "x,y x,y".
POINT_FIELDS: Final = (
    CONF_POLYGON,
    CONF_LINE,
    CONF_ALLOWED_DIRECTION,
    CONF_IMAGE_POINTS,
    CONF_GROUND_POINTS,
)
SERVER_ERRORS: Final = frozenset(
    {
        "out_of_range",
        "invalid_value",
        *(p.value for p in ShapeProblem if p.value.startswith("polygon_")),
    }
)
"""The server's field errors the rule and setting forms translate."""
_COMMON_FIELDS: Final = {
    "polygon": CONF_POLYGON,
    "zone": CONF_ZONE,
    "zones": CONF_ZONES,
    "line": CONF_LINE,
    "dwell_s": CONF_DWELL,
    "metric": CONF_METRIC,
    "high": CONF_HIGH,
    "critical": CONF_CRITICAL,
    "movement": CONF_MOVEMENT,
    "speed_kmh": CONF_SPEED,
    "speed_px_s": CONF_SPEED,
    "min_duration_s": CONF_MIN_DURATION,
    "tolerance_deg": CONF_TOLERANCE,
    "detect": CONF_DETECT,
    "static_s": CONF_STATIC,
    "max_step_s": CONF_MAX_STEP,
    "classes": CONF_CLASSES,
}


def rule_form_fields(kind: str) -> dict[str, str]:
    """Return the server's fields of a rule kind and the form's (`direction` differs)."""
    direction = CONF_ALLOWED_DIRECTION if kind == KIND_WRONG_WAY else CONF_DIRECTION
    return {**_COMMON_FIELDS, "direction": direction}


def rule_detectors(kind: str, data: Mapping[str, Any]) -> list[str]:
    """Return the detector kinds a rule runs (the privacy gate asks about them)."""
    if kind == KIND_OBJECT_LEFT:
        return [
            DetectorKind.OBJECT_LEFT if change == "left" else DetectorKind.OBJECT_REMOVED
            for change in data.get(CONF_DETECT) or ["left"]
        ]
    kinds = [kind]
    if kind == KIND_CROWD and data.get(CONF_MOVEMENT):
        kinds.append(DetectorKind.CROWD_MOVEMENT)
    return kinds


def _number(low: float, high: float, step: float, unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(min=low, max=high, step=step, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _select(options: Sequence[str], key: str, multiple: bool = False) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=list(options),
            multiple=multiple,
            mode=SelectSelectorMode.LIST if multiple else SelectSelectorMode.DROPDOWN,
            translation_key=key,
        )
    )


CLASSES_FIELD = _select(OBJECT_CLASSES, "object_class", multiple=True)


class RuleSubentryFlow(PrivacyGate, PictureSubentryFlow):
    """Add or change a rule: name and camera, kind, geometry and thresholds, preview, save."""

    kinds: tuple[str, ...] = RULE_KINDS
    subentry_type = SUBENTRY_RULE

    def __init__(self) -> None:
        """Start with an empty form."""
        super().__init__()
        self._input: dict[str, Any] = {}
        self._data: dict[str, Any] = {}
        self._kind: str | None = None

    # --- steps ---------------------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name the rule and pick its camera."""
        return await self._async_camera_form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a rule, starting from what was saved."""
        if user_input is None and self._kind is None:
            subentry = self._get_reconfigure_subentry()
            self._kind = subentry.data[CONF_KIND]
            self._input = {CONF_NAME: subentry.title, **_form_values(subentry.data)}
        return await self._async_camera_form("reconfigure", user_input)

    async def async_step_kind(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Pick what the rule watches for."""
        return self.async_show_menu(step_id="kind", menu_options=list(self.kinds))

    async def async_step_line_crossing(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the line and what crossings count."""
        return await self._async_settings(KIND_LINE, user_input)

    async def async_step_loitering(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the area and the dwell time."""
        return await self._async_settings(KIND_LOITERING, user_input)

    async def async_step_crowd(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the area and the crowd levels."""
        return await self._async_settings(KIND_CROWD, user_input)

    async def async_step_fast_move(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the speed threshold and, optionally, the area."""
        return await self._async_settings(KIND_FAST_MOVE, user_input)

    async def async_step_wrong_way(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the area and the allowed direction."""
        return await self._async_settings(KIND_WRONG_WAY, user_input)

    async def async_step_object_left(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose left and/or removed objects and, optionally, the area."""
        return await self._async_settings(KIND_OBJECT_LEFT, user_input)

    async def async_step_route(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick the zones in order and the time allowed between them."""
        return await self._async_settings(KIND_ROUTE, user_input)

    async def async_step_privacy_mask(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type the polygon to blank."""
        return await self._async_settings(KIND_PRIVACY_MASK, user_input)

    async def async_step_calibration(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Type four ground points and where they lie on the ground."""
        return await self._async_settings(KIND_CALIBRATION, user_input)

    async def async_step_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show the area on the camera's picture: save it, or edit it again."""
        return self.async_show_menu(
            step_id="preview",
            menu_options=["save", "edit"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_preview_line(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show the directed line on the camera's picture: save it, or edit it again."""
        return self.async_show_menu(
            step_id="preview_line",
            menu_options=["save", "edit"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_edit(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Go back to the kind's form."""
        assert self._kind is not None
        return await self._async_settings(self._kind, None)

    async def async_step_save(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Save what was previewed, once the deployment context allows what it does."""
        kind = self._kind
        assert kind is not None
        data = {CONF_CAMERA: self._input[CONF_CAMERA], CONF_KIND: kind, **self._data}
        name = self._input[CONF_NAME]

        async def finish(acknowledgements: dict[str, Any]) -> SubentryFlowResult:
            if acknowledgements:
                data[CONF_ACKNOWLEDGEMENTS] = acknowledgements
            return self._finish(name, data)

        if kind not in RULE_KINDS:
            return await finish({})
        return await self.async_gate(rule_detectors(kind, data), finish)

    # --- helpers -------------------------------------------------------------------------------

    async def _async_camera_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        if missing := self._server_missing():
            return missing
        cameras = camera_subentries(self._get_entry())
        if not cameras:
            return self.async_abort(reason="no_cameras")
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip()
            camera = user_input[CONF_CAMERA]
            self._input.update({CONF_NAME: name, CONF_CAMERA: camera})
            # A mask being changed is drawn on a fresh frame: the analysed one has it burnt in.
            raw = self._reconfiguring and self._kind == KIND_PRIVACY_MASK
            if not name:
                errors[CONF_NAME] = "name_required"
            elif self._is_duplicate_name(camera, name):
                errors[CONF_NAME] = "rule_exists"
            elif error := await self._async_fetch_picture(camera, raw=raw):
                errors["base"] = error
            elif self._kind is not None:
                return await self._async_settings(self._kind, None)
            else:
                return await self.async_step_kind()
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME): TEXT_FIELD,
                vol.Required(CONF_CAMERA, default=cameras[0].subentry_id): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=c.subentry_id, label=c.title) for c in cameras
                        ],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, self._input),
            errors=errors,
        )

    async def _async_settings(
        self, kind: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """Show a kind's form; check it (here, then on the server) and go to the preview."""
        self._kind = kind
        errors: dict[str, str] = {}
        zones = self._zones()
        if user_input is not None:
            # Empty optional fields are left out of the answer: drop what the form had.
            self._input = {k: self._input[k] for k in (CONF_NAME, CONF_CAMERA)} | user_input
            data, errors = self._check(kind, user_input, zones)
            if not errors:
                errors = await self._async_server_check(kind, data)
            if not errors:
                self._data = data
                if not (errors := _base(await self._async_draw_settings(data))):
                    if kind in LINE_KINDS:
                        return await self.async_step_preview_line()
                    return await self.async_step_preview()
        elif draw_error := await self._async_draw_settings(_parsed(self._input)):
            errors["base"] = draw_error
        return self.async_show_form(
            step_id=kind,
            data_schema=self.add_suggested_values_to_schema(
                _settings_schema(kind, zones), _defaults(kind) | self._input
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    def _zones(self) -> dict[str, str]:
        """Return the chosen camera's zones: subentry id → title."""
        camera = self._input[CONF_CAMERA]
        return {
            sub.subentry_id: sub.title
            for sub in self._get_entry().subentries.values()
            if sub.subentry_type == SUBENTRY_ZONE and sub.data.get(CONF_CAMERA) == camera
        }

    def _check(
        self, kind: str, user_input: dict[str, Any], zones: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Return the subentry data of a kind's answer, or the form errors."""
        data: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if kind in REGION_KINDS or kind == KIND_PRIVACY_MASK:
            _check_region(kind, user_input, data, errors)
        if kind == KIND_LINE:
            _check_points(user_input, CONF_LINE, data, errors)
            data[CONF_DIRECTION] = user_input.get(CONF_DIRECTION, "both")
        elif kind == KIND_WRONG_WAY:
            _check_points(user_input, CONF_ALLOWED_DIRECTION, data, errors)
            data[CONF_TOLERANCE] = float(user_input.get(CONF_TOLERANCE, 45))
        elif kind == KIND_LOITERING:
            data[CONF_DWELL] = float(user_input[CONF_DWELL])
        elif kind == KIND_CROWD:
            data |= {
                CONF_METRIC: user_input.get(CONF_METRIC, "count"),
                CONF_HIGH: float(user_input[CONF_HIGH]),
                CONF_CRITICAL: float(user_input[CONF_CRITICAL]),
                CONF_MOVEMENT: bool(user_input.get(CONF_MOVEMENT)),
            }
            if data[CONF_CRITICAL] <= data[CONF_HIGH]:
                errors[CONF_CRITICAL] = "critical_not_above_high"
            if data[CONF_METRIC] == "density" and not self._calibrated():
                errors[CONF_METRIC] = "needs_calibration"
        elif kind == KIND_FAST_MOVE:
            data |= {
                CONF_SPEED_UNIT: user_input.get(CONF_SPEED_UNIT, SPEED_KMH),
                CONF_SPEED: float(user_input[CONF_SPEED]),
                CONF_MIN_DURATION: float(user_input.get(CONF_MIN_DURATION, 1.0)),
            }
            if data[CONF_SPEED_UNIT] == SPEED_KMH and not self._calibrated():
                errors[CONF_SPEED_UNIT] = "needs_calibration"
        elif kind == KIND_OBJECT_LEFT:
            data[CONF_DETECT] = list(user_input.get(CONF_DETECT) or [])
            data[CONF_STATIC] = float(user_input.get(CONF_STATIC, 10))
            if not data[CONF_DETECT]:
                errors[CONF_DETECT] = "detect_required"
        elif kind == KIND_ROUTE:
            chosen = [z for z in user_input.get(CONF_ZONES) or [] if z in zones]
            data[CONF_ZONES] = chosen
            data[CONF_MAX_STEP] = float(user_input.get(CONF_MAX_STEP, 30))
            if len(chosen) < 2:
                errors[CONF_ZONES] = "route_too_few_zones"
        elif kind == KIND_CALIBRATION:
            _check_calibration(user_input, data, errors)
            if self._has_other_calibration():
                errors["base"] = "calibration_exists"
        if kind in RULE_KINDS and kind != KIND_OBJECT_LEFT and CONF_CLASSES in user_input:
            data[CONF_CLASSES] = list(user_input[CONF_CLASSES])
        return data, errors

    async def _async_server_check(self, kind: str, data: dict[str, Any]) -> dict[str, str]:
        """Return the server's errors for the camera with this rule or setting (a dry run)."""
        if kind == KIND_PRIVACY_MASK:
            return await self._async_dry_run(
                "privacy_masks", data, {}, SERVER_ERRORS, default=CONF_POLYGON
            )
        if kind == KIND_CALIBRATION:
            return await self._async_dry_run(
                "calibration",
                calibration_config(data),
                {},
                (),
                fallback_base="calibration_invalid",
            )
        rule = {
            "type": kind,
            "name": self._input[CONF_NAME],
            **rule_fields({CONF_KIND: kind, **data}),
        }
        return await self._async_dry_run("rules", rule, rule_form_fields(kind), SERVER_ERRORS)

    def _calibrated(self) -> bool:
        return self._calibration_of(self._input[CONF_CAMERA], None)

    def _has_other_calibration(self) -> bool:
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        return self._calibration_of(self._input[CONF_CAMERA], current)

    def _calibration_of(self, camera: str, exclude: str | None) -> bool:
        """Return whether a camera has a calibration (another than subentry `exclude`)."""
        return any(
            sub.subentry_type == SUBENTRY_CAMERA_SETTING
            and sub.subentry_id != exclude
            and sub.data.get(CONF_KIND) == KIND_CALIBRATION
            and sub.data.get(CONF_CAMERA) == camera
            for sub in self._get_entry().subentries.values()
        )

    async def _async_draw_settings(self, source: Mapping[str, Any]) -> str | None:
        """Draw the masks, the grid and the geometry on the picture for the form."""
        entry = self._get_entry()
        name = self._input[CONF_NAME]
        areas = []
        if source.get(CONF_POLYGON) and self._kind != KIND_PRIVACY_MASK:
            areas.append(shape(name, source[CONF_POLYGON]))
        for zone in [source.get(CONF_ZONE), *(source.get(CONF_ZONES) or [])]:
            if zone and (sub := entry.subentries.get(zone)):
                areas.append(shape(sub.title, sub.data[CONF_POLYGON]))
        if source.get(CONF_IMAGE_POINTS):
            areas.append(shape(name, source[CONF_IMAGE_POINTS]))
        lines = [
            shape(name, source[k]) for k in (CONF_LINE, CONF_ALLOWED_DIRECTION) if source.get(k)
        ]
        masks = []
        if self._kind == KIND_PRIVACY_MASK and source.get(CONF_POLYGON):
            # The mask being drawn is blanked too, and outlined to show where it is.
            masks.append(source[CONF_POLYGON])
            areas.append(shape(name, source[CONF_POLYGON]))
        return await self._async_draw(areas=areas, lines=lines, masks=masks)

    def _placeholders(self) -> dict[str, str]:
        name = self._input[CONF_NAME]
        return {
            "rule": name,
            "picture": self._picture_markdown(name),
            "editor": panel_url(self._input[CONF_CAMERA]),
        }


class CameraSettingSubentryFlow(RuleSubentryFlow):
    """Add or change a camera setting: a privacy mask or the ground calibration."""

    kinds = SETTING_KINDS
    subentry_type = SUBENTRY_CAMERA_SETTING


# --- checks ----------------------------------------------------------------------------------


def _base(error: str | None) -> dict[str, str]:
    return {"base": error} if error else {}


def _check_region(
    kind: str, user_input: dict[str, Any], data: dict[str, Any], errors: dict[str, str]
) -> None:
    text = str(user_input.get(CONF_POLYGON) or "").strip()
    zone = user_input.get(CONF_ZONE)
    if text and zone:
        errors["base"] = "area_both"
    elif zone:
        data[CONF_ZONE] = zone
    elif text:
        points, error = parse_polygon(text)
        if error:
            errors[CONF_POLYGON] = error
        else:
            data[CONF_POLYGON] = [[x, y] for x, y in points]
    elif kind in REGION_REQUIRED or kind == KIND_PRIVACY_MASK:
        errors["base"] = "area_required"


def _check_points(
    user_input: dict[str, Any], key: str, data: dict[str, Any], errors: dict[str, str]
) -> None:
    points, error = parse_line(str(user_input.get(key, "")))
    if error:
        errors[key] = error
    else:
        data[key] = [[x, y] for x, y in points]


def _check_calibration(
    user_input: dict[str, Any], data: dict[str, Any], errors: dict[str, str]
) -> None:
    image = parse_numbers(str(user_input.get(CONF_IMAGE_POINTS, "")))
    ground = parse_numbers(str(user_input.get(CONF_GROUND_POINTS) or ""))
    distances = parse_numbers(str(user_input.get(CONF_DISTANCES) or ""))
    if len(image) != 8:
        errors[CONF_IMAGE_POINTS] = "calibration_four_points"
    elif any(not 0 <= v <= 1 for v in image):
        errors[CONF_IMAGE_POINTS] = "polygon_outside_frame"
    elif bool(ground) == bool(distances):
        errors["base"] = "calibration_ground_or_distances"
    elif ground and len(ground) != 8:
        errors[CONF_GROUND_POINTS] = "calibration_four_points"
    elif distances and len(distances) != 4:
        errors[CONF_DISTANCES] = "calibration_four_distances"
    else:
        data[CONF_IMAGE_POINTS] = [[image[i], image[i + 1]] for i in range(0, 8, 2)]
        if ground:
            data[CONF_GROUND_POINTS] = [[ground[i], ground[i + 1]] for i in range(0, 8, 2)]
        else:
            data[CONF_DISTANCES] = distances


# --- forms -----------------------------------------------------------------------------------


def _defaults(kind: str) -> dict[str, Any]:
    defaults: dict[str, dict[str, Any]] = {
        KIND_LINE: {CONF_DIRECTION: "both", CONF_CLASSES: ["person"]},
        KIND_LOITERING: {CONF_DWELL: 20, CONF_CLASSES: ["person"]},
        KIND_CROWD: {CONF_METRIC: "count", CONF_HIGH: 5, CONF_CRITICAL: 10, CONF_MOVEMENT: False},
        KIND_FAST_MOVE: {
            CONF_SPEED_UNIT: "px_s",
            CONF_SPEED: 150,
            CONF_MIN_DURATION: 1,
            CONF_CLASSES: ["person"],
        },
        KIND_WRONG_WAY: {CONF_TOLERANCE: 45, CONF_CLASSES: []},
        KIND_OBJECT_LEFT: {CONF_DETECT: ["left"], CONF_STATIC: 10},
        KIND_ROUTE: {CONF_MAX_STEP: 30, CONF_CLASSES: ["person"]},
    }
    return defaults.get(kind, {})


def _settings_schema(kind: str, zones: dict[str, str]) -> vol.Schema:
    zone_field = SelectSelector(
        SelectSelectorConfig(
            options=[SelectOptionDict(value=k, label=v) for k, v in zones.items()],
            mode=SelectSelectorMode.DROPDOWN,
        )
    )
    fields: dict[Any, Any] = {}
    if kind in REGION_KINDS:
        fields[vol.Optional(CONF_ZONE)] = zone_field
    if kind in REGION_KINDS or kind == KIND_PRIVACY_MASK:
        fields[vol.Optional(CONF_POLYGON)] = TEXT_FIELD
    if kind == KIND_LINE:
        fields[vol.Required(CONF_LINE)] = TEXT_FIELD
        fields[vol.Required(CONF_DIRECTION)] = _select(
            ("both", "a_to_b", "b_to_a"), "line_direction"
        )
    elif kind == KIND_LOITERING:
        fields[vol.Required(CONF_DWELL)] = _number(1, 86400, 1, "s")
    elif kind == KIND_CROWD:
        fields[vol.Required(CONF_METRIC)] = _select(("count", "density"), "crowd_metric")
        fields[vol.Required(CONF_HIGH)] = _number(0.1, 10000, 0.1)
        fields[vol.Required(CONF_CRITICAL)] = _number(0.1, 10000, 0.1)
        fields[vol.Optional(CONF_MOVEMENT)] = BooleanSelector()
    elif kind == KIND_FAST_MOVE:
        fields[vol.Required(CONF_SPEED_UNIT)] = _select(("px_s", "kmh"), "speed_unit")
        fields[vol.Required(CONF_SPEED)] = _number(0.1, 100000, 0.1)
        fields[vol.Required(CONF_MIN_DURATION)] = _number(0, 60, 0.1, "s")
    elif kind == KIND_WRONG_WAY:
        fields[vol.Required(CONF_ALLOWED_DIRECTION)] = TEXT_FIELD
        fields[vol.Required(CONF_TOLERANCE)] = _number(1, 89, 1, "°")
    elif kind == KIND_OBJECT_LEFT:
        fields[vol.Optional(CONF_DETECT)] = _select(
            ("left", "removed"), "object_change", multiple=True
        )
        fields[vol.Required(CONF_STATIC)] = _number(1, 3600, 1, "s")
    elif kind == KIND_ROUTE:
        fields[vol.Optional(CONF_ZONES)] = SelectSelector(
            SelectSelectorConfig(
                options=[SelectOptionDict(value=k, label=v) for k, v in zones.items()],
                multiple=True,
                mode=SelectSelectorMode.LIST,
            )
        )
        fields[vol.Required(CONF_MAX_STEP)] = _number(1, 86400, 1, "s")
    elif kind == KIND_CALIBRATION:
        fields[vol.Required(CONF_IMAGE_POINTS)] = TEXT_FIELD
        fields[vol.Optional(CONF_GROUND_POINTS)] = TEXT_FIELD
        fields[vol.Optional(CONF_DISTANCES)] = TEXT_FIELD
    if kind in RULE_KINDS and kind != KIND_OBJECT_LEFT:
        fields[vol.Optional(CONF_CLASSES)] = CLASSES_FIELD
    return vol.Schema(fields)


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return saved data as the forms show it (point lists as text)."""
    values = {k: v for k, v in data.items() if k not in (CONF_KIND, CONF_ACKNOWLEDGEMENTS)}
    for key in POINT_FIELDS:
        if key in values:
            values[key] = format_points(values[key])
    if CONF_DISTANCES in values:
        values[CONF_DISTANCES] = " ".join(f"{d:g}" for d in values[CONF_DISTANCES])
    return values


def _parsed(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the point lists a form holds that parse, to draw them before they are checked."""
    parsed: dict[str, Any] = {k: values[k] for k in (CONF_ZONE, CONF_ZONES) if values.get(k)}
    for key in POINT_FIELDS:
        numbers = parse_numbers(str(values.get(key) or ""))
        if numbers and len(numbers) % 2 == 0:
            parsed[key] = [[numbers[i], numbers[i + 1]] for i in range(0, len(numbers), 2)]
    return parsed
