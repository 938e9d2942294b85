"""Rule and camera-setting subentry flows: pick a kind, type its geometry, check it on a picture.

One subentry type holds every rule kind (a menu picks it) rather than one type per kind: the
steps, errors and the preview are shared, and Home Assistant lists them under one "Add rule".
Privacy masks and the ground calibration are camera settings, their own subentry type, built
from the same steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
import re
from typing import Any

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
from PIL import ImageDraw
from pydantic import ValidationError
import voluptuous as vol

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.errors import InvalidPolygon
from vigil_core.geometry.polygon import Polygon
from vigil_core.privacy.inventory import rule_kinds
from vigil_core.privacy.masks import PrivacyMasks
from vigil_core.types import RGBImage

from .const import CONF_ACKNOWLEDGEMENTS, CONF_CAMERA, CONF_CLASSES, CONF_POLYGON, OBJECT_CLASSES
from .flow_base import TEXT_FIELD, camera_subentries
from .picture_flow import PictureSubentryFlow
from .privacy import PrivacyGate
from .rule_config import (
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
    calibration_spec,
    camera_calibration,
    camera_masks,
    rule_spec,
    zones_of_camera,
)
from .validation import format_polygon, parse_polygon

type Point = tuple[float, float]

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
MIN_LINE_LENGTH = 0.01
# Kinds that watch an area: their own polygon, or one of the camera's zones.
REGION_KINDS = frozenset(
    {KIND_LOITERING, KIND_CROWD, KIND_FAST_MOVE, KIND_WRONG_WAY, KIND_OBJECT_LEFT}
)
REGION_REQUIRED = frozenset({KIND_LOITERING, KIND_CROWD, KIND_WRONG_WAY})
# Form fields holding point lists, shown and typed as "x,y x,y".
POINT_FIELDS = (
    CONF_POLYGON,
    CONF_LINE,
    CONF_ALLOWED_DIRECTION,
    CONF_IMAGE_POINTS,
    CONF_GROUND_POINTS,
)


def parse_numbers(text: str) -> list[float]:
    """Return the numbers written in a text field."""
    return [float(n) for n in _NUMBER.findall(text)]


def parse_line(text: str) -> tuple[list[Point], str | None]:
    """Parse two "x,y" points (relative 0–1); return them and a form error key."""
    numbers = parse_numbers(text)
    if len(numbers) != 4:
        return [], "line_invalid"
    points = [(numbers[0], numbers[1]), (numbers[2], numbers[3])]
    if any(not (0.0 <= v <= 1.0) for point in points for v in point):
        return points, "line_outside_frame"
    (x1, y1), (x2, y2) = points
    if math.hypot(x2 - x1, y2 - y1) < MIN_LINE_LENGTH:
        return points, "line_zero_length"
    return points, None


def render_rule_picture(
    image: RGBImage,
    name: str,
    polygons: Sequence[Sequence[Point]],
    lines: Sequence[Sequence[Point]],
    masks: Sequence[Sequence[Point]],
) -> bytes:
    """Blank the masks, draw the grid, the areas and the directed lines, as JPEG (blocking)."""
    if masks:
        image = PrivacyMasks(masks).apply_image(image)
    areas = []
    for points in polygons:
        try:
            areas.append((name, Polygon(points), False))
        except InvalidPolygon:
            continue  # a polygon the form still refuses is not drawn
    picture = annotate(image, [], areas)
    draw = ImageDraw.Draw(picture, "RGBA")
    width, height = picture.size
    for step in range(1, 10):
        x, y = round(width * step / 10), round(height * step / 10)
        draw.line([(x, 0), (x, height)], fill=(255, 255, 255, 70), width=1)
        draw.line([(0, y), (width, y)], fill=(255, 255, 255, 70), width=1)
        draw.text((x + 2, 2), f"0.{step}", fill=(255, 255, 0, 230))
        draw.text((2, y + 2), f"0.{step}", fill=(255, 255, 0, 230))
    for (ax, ay), (bx, by) in (line for line in lines if len(line) == 2):
        a, b = (ax * width, ay * height), (bx * width, by * height)
        draw.line([a, b], fill=(255, 64, 64, 255), width=3)
        draw.ellipse([b[0] - 6, b[1] - 6, b[0] + 6, b[1] + 6], fill=(255, 64, 64, 255))
        draw.text((a[0] + 4, a[1] + 4), "A", fill=(255, 255, 255, 255))
        draw.text((b[0] + 8, b[1] + 4), "B", fill=(255, 255, 255, 255))
    return to_jpeg(picture)


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
        """Show the geometry on the camera's picture: save it, or edit it again."""
        return self.async_show_menu(
            step_id="preview",
            menu_options=["save", "edit"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_edit(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Go back to the kind's form."""
        assert self._kind is not None
        return await self._async_settings(self._kind, None)

    async def async_step_save(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Save what was previewed, once the deployment context allows what it does."""
        assert self._kind is not None
        data = {CONF_CAMERA: self._input[CONF_CAMERA], CONF_KIND: self._kind, **self._data}
        name = self._input[CONF_NAME]

        async def finish(acknowledgements: dict[str, Any]) -> SubentryFlowResult:
            if acknowledgements:
                data[CONF_ACKNOWLEDGEMENTS] = acknowledgements
            return self._finish(name, data)

        if self._kind not in RULE_KINDS:
            return await finish({})
        spec = rule_spec("check", name, data)
        return await self.async_gate(rule_kinds(spec), finish)

    # --- helpers -------------------------------------------------------------------------------

    async def _async_camera_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        entry = self._get_entry()
        cameras = camera_subentries(entry)
        if not cameras:
            return self.async_abort(reason="no_cameras")
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip()
            camera = user_input[CONF_CAMERA]
            self._input.update({CONF_NAME: name, CONF_CAMERA: camera})
            if not name:
                errors[CONF_NAME] = "name_required"
            elif self._is_duplicate_name(camera, name):
                errors[CONF_NAME] = "rule_exists"
            elif error := await self._async_fetch_picture(entry, camera):
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
        """Show a kind's form; check it and go to the preview."""
        self._kind = kind
        errors: dict[str, str] = {}
        camera = self._input[CONF_CAMERA]
        zones = {sub.subentry_id: sub.title for sub in zones_of_camera(self._get_entry(), camera)}
        if user_input is not None:
            # Empty optional fields are left out of the answer: drop what the form had.
            self._input = {k: self._input[k] for k in (CONF_NAME, CONF_CAMERA)} | user_input
            data, errors = self._check(kind, user_input, zones)
            if not errors:
                self._data = data
                await self._async_draw()
                return await self.async_step_preview()
        await self._async_draw(preview=False)
        return self.async_show_form(
            step_id=kind,
            data_schema=self.add_suggested_values_to_schema(
                _settings_schema(kind, zones), _defaults(kind) | self._input
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

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
        if kind in RULE_KINDS and kind not in (KIND_OBJECT_LEFT,) and CONF_CLASSES in user_input:
            data[CONF_CLASSES] = list(user_input[CONF_CLASSES])
        if not errors and kind in RULE_KINDS:
            try:
                rule_spec("check", "check", {CONF_KIND: kind, **data})
            except (ValidationError, ValueError):
                errors["base"] = "invalid_settings"
        return data, errors

    def _calibrated(self) -> bool:
        return camera_calibration(self._get_entry(), self._input[CONF_CAMERA]) is not None

    async def _async_draw(self, preview: bool = True) -> None:
        """Draw the grid, the masks and this rule's geometry on the picture for the form."""
        assert self._image is not None
        entry = self._get_entry()
        camera = self._input[CONF_CAMERA]
        source = self._data if preview else _parsed(self._input)
        polygons = [source[CONF_POLYGON]] if source.get(CONF_POLYGON) else []
        if (zone := source.get(CONF_ZONE)) and (sub := entry.subentries.get(zone)):
            polygons.append(sub.data[CONF_POLYGON])
        for zone in source.get(CONF_ZONES) or []:
            if sub := entry.subentries.get(zone):
                polygons.append(sub.data[CONF_POLYGON])
        if source.get(CONF_IMAGE_POINTS):
            polygons.append(source[CONF_IMAGE_POINTS])
        lines = [source[k] for k in (CONF_LINE, CONF_ALLOWED_DIRECTION) if source.get(k)]
        masks = camera_masks(entry, camera)
        if self._kind == KIND_PRIVACY_MASK and self._reconfiguring:
            current = self._get_reconfigure_subentry().data.get(CONF_POLYGON)
            masks = [m for m in masks if [list(p) for p in m] != current]
        jpeg = await self.hass.async_add_executor_job(
            render_rule_picture,
            self._image,
            self._input[CONF_NAME],
            [[(float(x), float(y)) for x, y in p] for p in polygons],
            [[(float(x), float(y)) for x, y in line] for line in lines],
            masks,
        )
        self._serve_picture(jpeg)

    def _placeholders(self) -> dict[str, str]:
        name = self._input[CONF_NAME]
        return {"rule": name, "picture": self._picture_markdown(name)}


class CameraSettingSubentryFlow(RuleSubentryFlow):
    """Add or change a camera setting: a privacy mask or the ground calibration."""

    kinds = SETTING_KINDS
    subentry_type = SUBENTRY_CAMERA_SETTING

    def _check(
        self, kind: str, user_input: dict[str, Any], zones: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Refuse a second calibration on one camera, then check the setting."""
        data, errors = super()._check(kind, user_input, zones)
        if kind == KIND_CALIBRATION and self._has_other_calibration():
            errors["base"] = "calibration_exists"
        return data, errors

    def _has_other_calibration(self) -> bool:
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        return any(
            sub.subentry_type == SUBENTRY_CAMERA_SETTING
            and sub.subentry_id != current
            and sub.data.get(CONF_KIND) == KIND_CALIBRATION
            and sub.data.get(CONF_CAMERA) == self._input[CONF_CAMERA]
            for sub in self._get_entry().subentries.values()
        )


# --- checks ----------------------------------------------------------------------------------


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
        return
    if any(not 0 <= v <= 1 for v in image):
        errors[CONF_IMAGE_POINTS] = "polygon_outside_frame"
        return
    if bool(ground) == bool(distances):
        errors["base"] = "calibration_ground_or_distances"
        return
    if ground and len(ground) != 8:
        errors[CONF_GROUND_POINTS] = "calibration_four_points"
        return
    if distances and len(distances) != 4:
        errors[CONF_DISTANCES] = "calibration_four_distances"
        return
    data[CONF_IMAGE_POINTS] = [[image[i], image[i + 1]] for i in range(0, 8, 2)]
    if ground:
        data[CONF_GROUND_POINTS] = [[ground[i], ground[i + 1]] for i in range(0, 8, 2)]
    else:
        data[CONF_DISTANCES] = distances
    try:
        calibration_spec(data)
    except ValidationError:
        errors["base"] = "calibration_invalid"


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
            values[key] = format_polygon(values[key])
    if CONF_DISTANCES in values:
        values[CONF_DISTANCES] = " ".join(f"{d:g}" for d in values[CONF_DISTANCES])
    return values


def _parsed(values: dict[str, Any]) -> dict[str, Any]:
    """Return the point lists a form holds that parse, to draw them before they are checked."""
    parsed: dict[str, Any] = {k: values[k] for k in (CONF_ZONE, CONF_ZONES) if values.get(k)}
    for key in POINT_FIELDS:
        numbers = parse_numbers(str(values.get(key) or ""))
        if numbers and len(numbers) % 2 == 0:
            parsed[key] = [[numbers[i], numbers[i + 1]] for i in range(0, len(numbers), 2)]
    return parsed
