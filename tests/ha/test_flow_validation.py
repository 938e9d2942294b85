"""How the server's answers become form errors (validation.py), without Home Assistant."""

from __future__ import annotations

from custom_components.vigil.client import CannotConnect, ServerError
from custom_components.vigil.validation import field_errors, form_error, parse_line
import vigil_protocol as vp


def _refused(key: str) -> ServerError:
    return ServerError(vp.ErrorInfo(translation_key=key, message="refused"))


def test_form_errors_of_a_source() -> None:
    """A camera's own errors show as they are; the server gone and anything else do not."""
    assert form_error(_refused("invalid_auth")) == "invalid_auth"
    assert form_error(_refused("timeout")) == "timeout"
    assert form_error(CannotConnect("gone")) == "server_unreachable"
    assert form_error(_refused("disk_full")) == "unknown"


def test_field_errors_land_on_the_edited_item_only() -> None:
    """Errors of other items are left out; unknown keys and fields fall back."""
    fields = (
        vp.FieldError(loc="cameras.0.rules.0.dwell_s", message="", translation_key="out_of_range"),
        vp.FieldError(loc="cameras.0.rules.1.loitering.dwell_s", message="", translation_key="x"),
        vp.FieldError(loc="cameras.0.rules.1", message="", translation_key="value_error"),
        vp.FieldError(loc="cameras.0.rules.10.high", message="", translation_key="out_of_range"),
    )
    errors = field_errors(fields, "cameras.0.rules.1", {"dwell_s": "dwell"}, {"out_of_range"})
    assert errors == {"dwell": "invalid_value", "base": "invalid_settings"}


def test_a_line_is_two_points_in_the_frame() -> None:
    assert parse_line("0.1,0.1 0.9,0.9") == ([(0.1, 0.1), (0.9, 0.9)], None)
    assert parse_line("0.1,0.1")[1] == "line_invalid"
    assert parse_line("0.1,0.1 1.1,0.9")[1] == "line_outside_frame"
    assert parse_line("0.1,0.1 0.1,0.1")[1] == "line_zero_length"
