"""The embedded demo: PETS2009 `vtest.avi`, YOLOX-nano and a zone over the crossroads."""

from __future__ import annotations

import os
from pathlib import Path
import sys

from vigil_core.annotate import annotate
from vigil_core.config import CameraSpec, EngineConfig, SourceSpec, ZoneSpec
from vigil_core.errors import SourceUnavailable
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent
from vigil_core.inference.loader import cache_dir, download_verified, file_sha256, shared_candidates
from vigil_core.pipeline import AnalysedFrame
from vigil_core.rules.zone import ZonePresenceRule

DEMO_CLIP = "vtest.avi"
DEMO_CLIP_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
# OpenCV's sample data, pinned to a commit so the bytes (and the sha256 above) never move.
DEMO_CLIP_URL = (
    "https://raw.githubusercontent.com/opencv/opencv/"
    "0dd31c3bba49e26298458ce2e18969a31dbd7df8/samples/data/vtest.avi"
)
DEMO_ZONE = ZoneSpec(
    id="crossroads",
    name="Crossroads",
    polygon=[(0.42, 0.36), (0.90, 0.20), (0.97, 0.50), (0.70, 0.62), (0.45, 0.52)],
    classes=["person"],
    inertia=2,
)


def find_demo_clip(*, allow_download: bool) -> Path:
    """Return a verified copy of the demo clip: media dirs, the cache, or a pinned download."""
    places = [Path(p) / DEMO_CLIP for p in _media_dirs()] + [cache_dir("media") / DEMO_CLIP]
    for path in places:
        if path.is_file() and file_sha256(path) == DEMO_CLIP_SHA256:
            return path
    if not allow_download:
        looked = ", ".join(str(p) for p in places)
        raise SourceUnavailable(f"demo clip {DEMO_CLIP} not found (looked in: {looked})")
    target = cache_dir("media") / DEMO_CLIP
    print(f"vigil: downloading the demo clip from {DEMO_CLIP_URL}", file=sys.stderr)
    download_verified(DEMO_CLIP_URL, target, DEMO_CLIP_SHA256)
    return target


def _media_dirs() -> list[str]:
    dirs = [os.environ["VIGIL_MEDIA_DIR"]] if os.environ.get("VIGIL_MEDIA_DIR") else []
    return dirs + [str(p.parent / "media") for p in shared_candidates()]


def demo_config(*, models_dir: Path | None, allow_download: bool) -> EngineConfig:
    """Return the demo configuration, fetching the clip and model first when allowed."""
    from vigil_core.inference.loader import resolve_model  # noqa: PLC0415

    clip = find_demo_clip(allow_download=allow_download)
    model = resolve_model("yolox_nano", models_dir=models_dir, allow_download=allow_download)
    camera = CameraSpec(
        id="pets2009",
        name="PETS2009 crossroads",
        source=SourceSpec(url=str(clip)),
        fps=5.0,
        zones=[DEMO_ZONE],
    )
    return EngineConfig(models_dir=str(model.parent), cameras=[camera])


class DemoRecorder:
    """Keep the busiest analysed frame of the run and write it, annotated, as a PNG."""

    def __init__(self, out_dir: Path) -> None:
        """Write into `out_dir`."""
        self.out_dir = out_dir
        self._best: tuple[int, AnalysedFrame] | None = None
        self._engine: object | None = None
        self.events = 0

    def attach(self, engine: object) -> None:
        """Watch the engine's zone events."""
        from vigil_core.engine import Engine  # noqa: PLC0415

        assert isinstance(engine, Engine)
        self._engine = engine
        engine.bus.subscribe(self._on_event)

    def _on_event(self, event: VigilEvent) -> None:
        from vigil_core.engine import Engine  # noqa: PLC0415

        if not isinstance(event, RuleEvent) or not isinstance(self._engine, Engine):
            return
        self.events += 1
        count = event.attrs.get("count")
        if event.phase is EventPhase.STARTED and isinstance(count, int):
            latest = self._engine.latest(event.camera_id)
            if latest is not None and (self._best is None or count > self._best[0]):
                self._best = (count, latest)

    def write(self) -> Path | None:
        """Write the annotated image; return its path (None when nothing was analysed)."""
        if self._best is None:
            return None
        _, analysed = self._best
        rule = ZonePresenceRule(DEMO_ZONE)
        image = annotate(
            analysed.frame.image, analysed.tracks, [(DEMO_ZONE.name, rule.polygon, True)]
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "demo.png"
        image.save(path)
        return path
