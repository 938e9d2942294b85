"""The engine wires plate reading after tracking: a watched plate in a clip becomes events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.plates import encode_clip, plate_on_photo, read_rgb, zoom_towards
from tests.support.shared import MEDIA_DIR
from vigil_core.config import EngineConfig
from vigil_core.engine import Engine
from vigil_core.events.model import RuleEvent, VigilEvent
from vigil_tools.eval.anpr import load_folder


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """Return a clip of a real photo with a rendered plate, zooming in: a car approaching."""
    folder = MEDIA_DIR / "plates" / "us"
    if not folder.is_dir():
        pytest.skip("the shared plate photos are not on this machine")
    photo = next(p for p in load_folder(folder) if p.box is not None and p.box.width >= 120)
    assert photo.box is not None
    image, plate = plate_on_photo(read_rgb(photo.path), photo.box, "AB-123-CD", "fr")
    frames = [zoom_towards(image, plate.center, 1.0 + 0.04 * k) for k in range(30)]
    return encode_clip(frames, tmp_path / "gate.mp4", fps=10.0)


@pytest.mark.parametrize("mode", ["vehicle_crops", "full_frame", "both"])
async def test_engine_reports_a_watched_plate_approaching(
    tmp_path: Path, models_dir: Path, clip: Path, mode: str
) -> None:
    """The default, licence-clean chain: in the vehicles' windows, over the frame, or both."""
    config = EngineConfig.parse(
        {
            "models_dir": str(models_dir),
            "state_dir": str(tmp_path / "state"),
            # Hashed plates need no acknowledgement on private premises (a home's gate, which
            # applies when no context is declared, holds them back).
            "privacy": {"context": "private_premises"},
            "anpr": {
                "watchlist": {
                    "entries": [
                        {
                            "id": "van",
                            "plate": "AB-123-CD",
                            "label": "Van",
                            "reason": "stolen vehicle report",
                            "expires": "2099-12-31",
                        }
                    ]
                }
            },
            "cameras": [
                {
                    "id": "gate",
                    "source": str(clip),
                    "fps": 5,
                    "anpr": {
                        "enabled": True,
                        "mode": mode,
                        "countries": ["fr"],
                        "privacy": "hashed",
                    },
                }
            ],
        }
    )
    engine = Engine(config)
    events: list[RuleEvent] = []

    def on_event(event: VigilEvent) -> None:
        if isinstance(event, RuleEvent) and event.rule_id == "anpr":
            events.append(event)

    engine.bus.subscribe(on_event)
    await engine.start()
    try:
        await asyncio.wait_for(engine.wait_finished(), 60)
        await asyncio.sleep(0.2)
        sightings = await asyncio.to_thread(
            engine.anpr.query, "AB123CD", who="test", reason="end-to-end check"
        )
    finally:
        await engine.stop()
    kinds = [e.kind for e in events]
    assert kinds == ["watchlist_match", "plate_passage"]
    match = events[0]
    assert match.camera_id == "gate" and match.attrs["plate"] == "AB-123-CD"
    assert match.attrs["direction"] == "approaching"
    # Over the frame the plate is read before the car's track is confirmed; the car then
    # takes that passage over (one match, not two).
    assert match.track_id is not None
    assert [s.camera_id for s in sightings] == ["gate"]
    assert (tmp_path / "state" / "anpr_audit.jsonl").is_file()
