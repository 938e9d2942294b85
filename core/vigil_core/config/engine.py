"""The whole configuration of an engine (a server or `vigil-analytics run`)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil_core.config.anpr import PUBLIC_WATCH_MAX_DAYS, AnprSettings, expires_within
from vigil_core.config.camera import CameraSpec
from vigil_core.config.inference import DetectorSpec, InferenceSpec, TrackerSpec
from vigil_core.config.source import FrigateMqttSpec
from vigil_core.errors import ConfigInvalid
from vigil_core.privacy.context import PrivacySpec
from vigil_core.specs import Spec, format_validation_error, validation_lines


class EngineConfig(Spec):
    """Everything the engine needs to run."""

    models_dir: Annotated[
        str | None, Field(description="Folder holding model files (also VIGIL_MODEL_DIR).")
    ] = None
    detector: DetectorSpec = DetectorSpec()
    tracker: TrackerSpec = TrackerSpec()
    inference: InferenceSpec = InferenceSpec()
    cameras: list[CameraSpec] = Field(default_factory=list)
    state_dir: Annotated[
        str | None,
        Field(
            description="Folder for persisted state (line-crossing totals); none keeps it in "
            "memory."
        ),
    ] = None
    frigate_mqtt: Annotated[
        FrigateMqttSpec | None,
        Field(description="Broker of the cameras on Frigate's detections (standalone engine)."),
    ] = None
    privacy: Annotated[
        PrivacySpec,
        Field(
            description="Deployment context, acknowledgements, retention and controller (privacy/)."
        ),
    ] = PrivacySpec()
    anpr: Annotated[
        AnprSettings,
        Field(
            description="Plate models and the watchlist (cameras enable reading in their `anpr`)."
        ),
    ] = AnprSettings()

    @model_validator(mode="after")
    def _unique_cameras(self) -> Self:
        ids = [cam.id for cam in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _public_watch_short(self) -> Self:
        """Refuse a public-space watchlist entry that lasts more than 30 days from now."""
        if self.privacy.context != "public_space":
            return self
        for entry in self.anpr.watchlist.entries:
            if not expires_within(entry.expires, PUBLIC_WATCH_MAX_DAYS):
                raise PydanticCustomError(
                    "watchlist_expiry_too_long",
                    "watchlist entry {entry} expires more than {days} days ahead; in public "
                    "space an entry lasts at most {days} days",
                    {"entry": entry.id, "days": PUBLIC_WATCH_MAX_DAYS},
                )
        return self

    @classmethod
    def parse(cls, data: Any) -> EngineConfig:
        """Validate raw data; raise ConfigInvalid with a one-line message naming the field.

        With several errors, the message names the first and `fields` holds them all.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            invalid = ConfigInvalid(format_validation_error(err))
            invalid.fields = validation_lines(err)
            raise invalid from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """Return the JSON Schema of the configuration file."""
        return cls.model_json_schema()
