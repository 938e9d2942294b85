"""The server's own errors: a configuration refused field by field."""

from __future__ import annotations

from pydantic import ValidationError

from vigil_core.errors import VigilError
from vigil_protocol import FieldError


class ConfigRejected(VigilError):
    """A configuration does not validate; `fields` says where."""

    translation_key = "config_invalid"

    def __init__(self, message: str, fields: tuple[FieldError, ...]) -> None:
        """Keep the per-field errors."""
        super().__init__(message)
        self.fields = fields


def field_errors(err: ValidationError) -> tuple[FieldError, ...]:
    """Return a pydantic error as per-field errors with translation keys."""
    found = []
    for item in err.errors(include_input=False):
        loc = ".".join(str(part) for part in item["loc"]) or "config"
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(FieldError(loc=loc, message=message, translation_key=_key(item["type"])))
    return tuple(found)


_PYDANTIC_KEYS = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "value_error": "invalid_value",
}


def _key(error_type: str) -> str:
    """Return the translation key of a validation error type (engine errors keep theirs)."""
    if error_type in _PYDANTIC_KEYS:
        return _PYDANTIC_KEYS[error_type]
    if error_type.endswith(("_type", "_parsing")):
        return "invalid_type"
    return error_type
