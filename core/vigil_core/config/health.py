"""Camera-health (tamper) settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from vigil_core.specs import Spec


class TamperSpec(Spec):
    """Camera-health checks that need no object model (health/): each one a binary condition."""

    enabled: Annotated[bool, Field(description="Run the camera-health checks on this camera.")] = (
        True
    )
    obstruction: Annotated[
        bool,
        Field(description="Watch for a large part of the view covered, darkened or made uniform."),
    ] = True
    defocus: Annotated[
        bool, Field(description="Watch for sharpness falling well below the learned baseline.")
    ] = True
    orientation: Annotated[
        bool,
        Field(description="Watch for the view no longer matching the reference (turned, zoomed)."),
    ] = True
    stream_loss: Annotated[
        bool, Field(description="Watch for no frames, frozen frames or a collapsing frame rate.")
    ] = True
    sensitivity: Annotated[
        Literal["low", "medium", "high"],
        Field(description="Scales every threshold: high fires on smaller changes."),
    ] = "medium"
    start_s: Annotated[
        float, Field(gt=0, le=600, description="Seconds a view condition must hold to start.")
    ] = 1.0
    end_s: Annotated[
        float, Field(gt=0, le=600, description="Seconds a condition must stay clear to end.")
    ] = 3.0
    frozen_s: Annotated[
        float, Field(gt=0, le=3600, description="Identical frames this long are a stream loss.")
    ] = 10.0
    low_fps_s: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="A frame rate under half the expected one this long is a stream loss.",
        ),
    ] = 10.0
    adapt_s: Annotated[
        float,
        Field(
            ge=10,
            le=86400,
            description="Time constant of the slowly adapting baselines (dusk, dawn, seasons).",
        ),
    ] = 300.0
    ignore_regions: Annotated[
        list[tuple[float, float, float, float]],
        Field(
            description="Rectangles (x1, y1, x2, y2) in 0-1 of the frame left out, e.g. burned-in "
            "clocks or labels."
        ),
    ] = Field(default_factory=list)

    @field_validator("ignore_regions")
    @classmethod
    def _regions_ok(
        cls, value: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        for x1, y1, x2, y2 in value:
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError("each region needs 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
        return value
