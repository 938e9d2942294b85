"""Errors the engine raises, each with a translation key for user-facing messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from vigil_protocol.shapes import ShapeError


class VigilError(Exception):
    """Base error: a one-line message plus a translation key and its placeholders."""

    translation_key = "unknown"

    def __init__(self, message: str, placeholders: Mapping[str, str] | None = None) -> None:
        """Store the message and the placeholders for the translated form."""
        super().__init__(message)
        self.message = message
        self.placeholders: dict[str, str] = dict(placeholders or {})

    def __str__(self) -> str:
        """Return the one-line message."""
        return self.message


class ConfigInvalid(VigilError):
    """The configuration does not validate."""

    translation_key = "config_invalid"
    fields: tuple[str, ...] = ()
    """Every field's error ("loc: message") when a validation found several."""


class ModelsDirInvalid(ConfigInvalid):
    """The configured models folder is a file (or otherwise not a folder)."""

    translation_key = "models_dir_invalid"


class InvalidShape(ConfigInvalid):
    """A shape drawn on the picture (a polygon, a line) cannot be used."""

    translation_key = "invalid_shape"

    @classmethod
    def of(cls, err: ShapeError) -> Self:
        """Return the error for a protocol shape check's problem, keyed by the problem."""
        error = cls(err.message)
        error.translation_key = err.problem.value
        return error


class InvalidPolygon(InvalidShape):
    """A polygon has too few points, leaves the frame or crosses itself."""

    translation_key = "invalid_polygon"


class MalformedInput(VigilError, ValueError):
    """Something a camera, a broker or a server sent cannot be read; it is skipped."""

    translation_key = "malformed_input"


class SourceError(VigilError):
    """A video source cannot be used."""

    translation_key = "source_error"


class SourceUnavailable(SourceError):
    """A stream or file cannot be reached or opened."""

    translation_key = "cannot_connect"


class SourceTimeout(SourceUnavailable):
    """The source accepted the connection (or was silent) but did not answer in time."""

    translation_key = "timeout"


class StreamNotFound(SourceUnavailable):
    """The server answered, but serves nothing at that path (RTSP/HTTP 404, no such file)."""

    translation_key = "not_found"


class FrigateConfigInvalid(SourceError):
    """A Frigate server's /api/config holds no camera Vigil can read."""

    translation_key = "frigate_config_invalid"


class AuthFailed(SourceError):
    """The source refused the credentials."""

    translation_key = "invalid_auth"


class NotVideo(SourceError):
    """The source opened but holds no decodable video stream."""

    translation_key = "not_video"


class StorageError(VigilError):
    """Vigil's own files cannot be written or read."""

    translation_key = "storage_error"


class StateDirUnwritable(StorageError):
    """The state folder does not exist and cannot be made, is a file, or refuses writes."""

    translation_key = "state_dir_unwritable"


class ModelError(VigilError):
    """A model cannot be used."""

    translation_key = "model_error"


class UnknownModel(ModelError):
    """No model of that name is declared in the registry."""

    translation_key = "unknown_model"


class ModelMissing(ModelError):
    """The model file was found nowhere."""

    translation_key = "model_missing"


class ModelChecksumMismatch(ModelError):
    """A model file exists but its sha256 differs from the registry's."""

    translation_key = "model_checksum"


class ModelInvalid(ModelError):
    """A model file has the right name but onnxruntime cannot load it or its shape is wrong."""

    translation_key = "model_invalid"


class ModelRoleRefused(ModelError):
    """A model declares a role Vigil refuses to run (for example anything biometric)."""

    translation_key = "model_role_refused"
