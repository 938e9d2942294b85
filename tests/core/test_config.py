"""Configuration validation: clear one-line errors naming the field."""

from __future__ import annotations

import pytest

from vigil_core.config import EngineConfig
from vigil_core.errors import ConfigInvalid, InvalidPolygon
from vigil_core.geometry.polygon import Polygon, validate_polygon


def _config(**camera: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "cam", "source": "clip.mp4"}
    base.update(camera)
    return {"cameras": [base]}


def test_minimal_config_gets_defaults() -> None:
    config = EngineConfig.parse(_config())
    camera = config.cameras[0]
    assert camera.fps == 5.0
    assert camera.source.is_file
    assert config.detector.model == "yolox_nano"


@pytest.mark.parametrize(
    ("polygon", "fragment"),
    [
        ([[0, 0], [1, 0]], "at least 3 points"),
        ([[0, 0], [1.2, 0], [1, 1]], "outside the frame"),
        ([[0, 0], [1, 1], [1, 0], [0, 1]], "cross"),
        ([[0, 0], [0.5, 0.5], [1, 1]], "no area"),
    ],
)
def test_bad_polygons_are_rejected_with_the_reason(
    polygon: list[list[float]], fragment: str
) -> None:
    with pytest.raises(ConfigInvalid) as err:
        EngineConfig.parse(_config(zones=[{"id": "z", "polygon": polygon}]))
    message = str(err.value)
    assert "cameras.0.zones.0.polygon" in message
    assert fragment in message
    assert "\n" not in message


def test_unknown_keys_and_bad_ids_are_refused() -> None:
    with pytest.raises(ConfigInvalid, match=r"cameras\.0\.colour"):
        EngineConfig.parse(_config(colour="red"))
    with pytest.raises(ConfigInvalid, match="slug"):
        EngineConfig.parse(_config(id="Front Door"))
    with pytest.raises(ConfigInvalid, match="scheme 'ftp'"):
        EngineConfig.parse(_config(source="ftp://example/x"))


def test_duplicate_ids_are_refused() -> None:
    raw = {"cameras": [{"id": "a", "source": "x.mp4"}, {"id": "a", "source": "y.mp4"}]}
    with pytest.raises(ConfigInvalid, match="repeated: a"):
        EngineConfig.parse(raw)


def test_polygon_contains_and_self_intersection() -> None:
    square = Polygon([(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)])
    assert square.contains(50, 50, 100, 100)
    assert not square.contains(10, 50, 100, 100)
    with pytest.raises(InvalidPolygon):
        validate_polygon([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)])


def test_json_schema_documents_the_format() -> None:
    schema = EngineConfig.json_schema()
    assert "cameras" in schema["properties"]
    assert "ZoneSpec" in schema["$defs"]
