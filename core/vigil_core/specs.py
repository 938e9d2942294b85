"""The base of every configuration model and the field checks the models share.

Frozen pydantic models that refuse unknown keys. A leaf: the configuration (`vigil_core.config`)
and the rule families' specs (`vigil_core.rules`) build on it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from vigil_core.errors import InvalidPolygon, VigilError
from vigil_core.geometry.polygon import validate_polygon

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

RESERVED_RULE_IDS = {
    "tamper": "camera health (vigil_core.health.RULE_ID)",
    "anpr": "plate reading (vigil_core.anpr.stage.RULE_ID)",
}
"""Rule ids the engine's own detectors raise events under: a zone or rule may not take one,
or its events would be read as theirs."""


type Point = tuple[float, float]


class Spec(BaseModel):
    """A configuration model: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_error(err: VigilError) -> PydanticCustomError:
    """Return a validation error that keeps the engine error's translation key as its type.

    Clients (Home Assistant's forms) show the error translated by that key; the message is
    the English fallback.
    """
    return PydanticCustomError(err.translation_key, "{message}", {"message": err.message})


def checked_slug(value: str) -> str:
    """Return `value` if it is a slug (an id the user keeps); raise ValueError otherwise."""
    if not SLUG.match(value):
        raise ValueError(
            "must be a slug: lower-case letters, digits, '-' or '_', starting with a letter or "
            "digit"
        )
    return value


def secret_text(value: Any) -> Any:
    """Return the text of a password given as SecretStr (a copy of a spec) or as is."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


type Anchor = Literal["bottom_center", "center"]


def checked_polygon(value: list[Point]) -> list[Point]:
    """Return `value` if it is a valid relative polygon; raise a translated field error if not."""
    try:
        validate_polygon(value)
    except InvalidPolygon as err:
        raise field_error(err) from err
    return value


def validation_lines(err: ValidationError) -> tuple[str, ...]:
    """Return each error of a pydantic error as 'loc: message'."""
    return tuple(
        f"{'.'.join(str(part) for part in item['loc']) or 'config'}: "
        f"{item['msg'].removeprefix('Value error, ')}"
        for item in err.errors()
    )


def format_validation_error(err: ValidationError) -> str:
    """Turn a pydantic error into one line.

    For example 'cameras.0.zones.1.polygon: must have ... (and 2 more)'.
    """
    lines = validation_lines(err)
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return f"invalid config at {lines[0]}{more}"
