"""Repair issues: a model that is missing or corrupt, a stream that stays unreachable."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from vigil_core.errors import ModelChecksumMismatch, ModelError

from .const import DOMAIN
from .engine_config import CameraInfo

MODEL_ISSUE_ID = "model"


@callback
def async_create_model_issue(hass: HomeAssistant, err: ModelError) -> None:
    """Tell the user the detector model cannot be used, and how to fix it."""
    key = "model_checksum" if isinstance(err, ModelChecksumMismatch) else "model_missing"
    ir.async_create_issue(
        hass,
        DOMAIN,
        MODEL_ISSUE_ID,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=key,
        translation_placeholders={
            "model": err.placeholders.get("model", ""),
            "path": err.placeholders.get("path", err.placeholders.get("file", "")),
        },
    )


@callback
def async_delete_model_issue(hass: HomeAssistant) -> None:
    """Remove the model issue once the model loads."""
    ir.async_delete_issue(hass, DOMAIN, MODEL_ISSUE_ID)


def stream_issue_id(camera_id: str) -> str:
    """Return the issue id of a camera's unreachable stream."""
    return f"stream_{camera_id}"


@callback
def async_create_stream_issue(
    hass: HomeAssistant, camera: CameraInfo, *, reason: str, auth_failed: bool
) -> None:
    """Tell the user a camera's stream has been unreachable for a while."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        stream_issue_id(camera.camera_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="stream_auth_failed" if auth_failed else "stream_unreachable",
        translation_placeholders={"camera": camera.name, "reason": reason or "-"},
    )


@callback
def async_delete_stream_issue(hass: HomeAssistant, camera_id: str) -> None:
    """Remove a camera's stream issue once frames flow again."""
    ir.async_delete_issue(hass, DOMAIN, stream_issue_id(camera_id))
