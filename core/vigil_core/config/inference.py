"""Detector, tracker, motion gate and inference settings."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from vigil_core.specs import Spec

COCO_VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")


class MotionSpec(Spec):
    """Cheap frame-difference gate that skips inference on static frames."""

    enabled: bool = True
    threshold: Annotated[
        float,
        Field(
            gt=0,
            le=255,
            description="Mean absolute grey-level change of a cell that counts as motion.",
        ),
    ] = 12.0
    min_area: Annotated[
        float, Field(ge=0, le=1, description="Fraction of the downscaled frame that must move.")
    ] = 0.0005
    refresh_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="Run inference at least this often, so stopped objects stay tracked.",
        ),
    ] = 2.0


class KServeSpec(Spec):
    """A KServe v2 (Open Inference Protocol) server that runs the detector's model.

    Triton, KServe and Seldon MLServer speak this protocol over REST and gRPC. The server hosts
    the same model file; pre- and post-processing stay here, so the detections match the local
    session's.
    """

    url: Annotated[
        str,
        Field(
            pattern=r"^(https?://[^/\s]+(/[^\s]*)?|grpcs?://[^/@\s]+/?)$",
            description="Base URL of the server's REST API (http://host:8000 for Triton; the "
            "protocol's paths /v2/... are added to it), or its gRPC address (grpc://host:8001, "
            "grpcs:// with TLS; needs the grpc extra).",
        ),
    ]
    model: Annotated[
        str | None,
        Field(
            min_length=1,
            description="Name the server hosts the model under (default: the detector's model).",
        ),
    ] = None
    timeout_s: Annotated[
        float, Field(gt=0, le=60, description="Longest wait for one request's answer.")
    ] = 2.0
    retries: Annotated[
        int,
        Field(ge=0, le=5, description="Further attempts of a failed request before giving up."),
    ] = 1
    retry_after_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="While the server is away, try it again after this long (one request).",
        ),
    ] = 5.0
    fallback: Annotated[
        Literal["local", "none"],
        Field(
            description="local: run the local onnxruntime session while the server is away; "
            "none: detect nothing until it is back (tracks wait, camera-health checks go on)."
        ),
    ] = "local"
    max_batch: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Most images sent in one request (frames of several cameras gathered "
            "by the shared batcher).",
        ),
    ] = 4
    max_wait_ms: Annotated[
        float, Field(ge=0, le=1000, description="Longest wait for a request's batch to fill.")
    ] = 5.0
    requests: Annotated[
        int, Field(ge=1, le=16, description="Requests in flight at once (batcher workers).")
    ] = 2


class DetectorSpec(Spec):
    """Which object detector runs and how its output is filtered."""

    model: str = "yolox_nano"
    backend: Annotated[
        Literal["local", "kserve"],
        Field(
            description="local: the shared onnxruntime session; kserve: a KServe v2 / Triton "
            "server (settings in `kserve`)."
        ),
    ] = "local"
    kserve: Annotated[
        KServeSpec | None,
        Field(description="The inference server, when backend is kserve."),
    ] = None
    confidence: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="Lowest detection score kept; the tracker uses low scores to keep "
            "tracks alive.",
        ),
    ] = 0.1
    nms_iou: Annotated[float, Field(gt=0, lt=1)] = 0.45
    classes: Annotated[
        list[str], Field(description="Classes kept from the detector; empty means all.")
    ] = Field(default_factory=lambda: ["person", *COCO_VEHICLES])
    input_fit: Annotated[
        Literal["aspect", "square"],
        Field(
            description="aspect: run each frame at its own aspect when the model allows it "
            "(416x256 for 16:9, about 0.6 of the square's cost, same scale); square: letterbox "
            "into the model's square input."
        ),
    ] = "aspect"

    @model_validator(mode="after")
    def _backend_settings(self) -> Self:
        if self.backend == "kserve" and self.kserve is None:
            raise ValueError("backend kserve needs the server's settings in detector.kserve")
        return self


class TrackerSpec(Spec):
    """ByteTrack-style association settings (defaults measured on PETS2009 with yolox_nano)."""

    high_score: Annotated[
        float,
        Field(gt=0, lt=1, description="Confident detections: matched first, keep tracks alive."),
    ] = 0.6
    low_score: Annotated[
        float,
        Field(gt=0, lt=1, description="Weaker ones down to this only continue tracks."),
    ] = 0.1
    new_track_score: Annotated[
        float,
        Field(gt=0, lt=1, description="A detection must score this to start a track."),
    ] = 0.6
    confirm_score: Annotated[
        float,
        Field(ge=0, lt=1, description="Median detection score a new track needs to confirm."),
    ] = 0.65
    match_iou: Annotated[
        float,
        Field(gt=0, lt=1, description="IoU with the predicted box a confident match needs."),
    ] = 0.1
    low_match_iou: Annotated[
        float,
        Field(gt=0, lt=1, description="IoU with the predicted box a weak match needs."),
    ] = 0.5
    lost_s: Annotated[
        float,
        Field(gt=0, le=60, description="Seconds a track survives without a confident detection."),
    ] = 3.0
    coast_s: Annotated[
        float,
        Field(ge=0, le=60, description="Seconds a missed track is still reported (matched=False)."),
    ] = 1.0
    min_hits: Annotated[
        int,
        Field(ge=1, le=30, description="Matched frames before a track is confirmed."),
    ] = 2
    history_len: Annotated[
        int,
        Field(ge=1, le=1000, description="Bottom-centre points kept per track."),
    ] = 50
    class_groups: Annotated[
        list[list[str]],
        Field(description="Labels that may swap within one track; others match only themselves."),
    ] = Field(default_factory=lambda: [["car", "truck", "bus"]])


class InferenceSpec(Spec):
    """How the shared onnxruntime sessions run."""

    intra_op_threads: Annotated[int, Field(ge=1, le=64)] = 1
    workers: Annotated[
        int, Field(ge=1, le=16, description="Threads running the shared session concurrently.")
    ] = 2
    max_batch: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Images per detector call for dynamic-batch models; 1 (no batching) "
            "because batches cost the same per image on a CPU and waiting adds latency.",
        ),
    ] = 1
    max_wait_ms: Annotated[
        float, Field(ge=0, le=1000, description="Longest wait for a batch to fill (max_batch > 1).")
    ] = 10.0
    spinning: bool = False
    share_session: Annotated[
        bool,
        Field(
            description="One session for every camera (default); false gives each camera its "
            "own, for comparison."
        ),
    ] = True
