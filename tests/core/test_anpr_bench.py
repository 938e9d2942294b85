"""`vigil-analytics bench anpr`: label formats, scoring and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.support.plates import plate_on_photo, read_rgb
from tests.support.shared import MEDIA_DIR, MODELS_DIR
from vigil_core.cli import main
from vigil_core.errors import VigilError
from vigil_core.types import BBox
from vigil_tools.eval.anpr import load_folder


def _write(path: Path, image: object) -> None:
    assert cv2.imwrite(str(path), image[..., ::-1])  # type: ignore[index]


@pytest.fixture(scope="module")
def source() -> tuple[Path, BBox]:
    folder = MEDIA_DIR / "plates" / "us"
    if not folder.is_dir() or not MODELS_DIR.exists():
        pytest.skip("the shared plate photos or models are not on this machine")
    photo = next(p for p in load_folder(folder) if p.box is not None and p.box.width >= 120)
    assert photo.box is not None
    return photo.path, photo.box


def test_openalpr_labels(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "a.txt").write_text("a.jpg\t10\t20\t30\t15\tab 12-3\n")
    (tmp_path / "notes.txt").write_text("not a label\n")
    (photo,) = load_folder(tmp_path)
    assert photo.plate == "AB123"
    assert photo.box == BBox(10, 20, 40, 35)


def test_file_name_labels_with_fixes_and_yolo_boxes(tmp_path: Path) -> None:
    images = tmp_path / "images"
    labels = tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    import numpy as np  # noqa: PLC0415

    blank = np.zeros((100, 200, 3), np.uint8)
    for name in ("AB12CDE", "XIIUME"):
        _write(images / f"{name}.jpg", blank)
    (labels / "AB12CDE.txt").write_text("1 0.5 0.5 1 1\n0 0.5 0.5 0.5 0.2\n")
    (tmp_path / "LABEL_FIXES.tsv").write_text(
        "file\tlabel_in_name\tcorrect\nimages/XIIUME.jpg\tXIIUME\tX11UME\n"
    )
    photos = {p.path.name: p for p in load_folder(tmp_path)}
    assert photos["XIIUME.jpg"].plate == "X11UME"
    assert photos["AB12CDE.jpg"].box == BBox(50, 40, 150, 60)
    assert photos["XIIUME.jpg"].box is None


def test_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VigilError):
        load_folder(tmp_path / "missing")
    with pytest.raises(VigilError):
        load_folder(tmp_path)


def test_bench_reports_accuracy_recall_and_ms_as_json(
    tmp_path: Path, source: tuple[Path, BBox], capsys: pytest.CaptureFixture[str]
) -> None:
    named = tmp_path / "named"
    named.mkdir()
    for text in ("AB-123-CD", "GH-456-KL"):
        image, _ = plate_on_photo(read_rgb(source[0]), source[1], text, "fr")
        _write(named / f"{text.replace('-', '')}.jpg", image)
    args = ["bench", "anpr", str(named), "--json", "--countries", "fr", "--ocr", "cct"]
    code = main([*args, "--no-warmup", "--no-rendered"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"] == {"countries": ["fr"], "ocr": "cct", "refine": True}
    chains = report["chains"]
    assert set(chains) == {"default", "agpl", "plain"}
    assert chains["default"]["detector"] == "ppocr_v6_det_small"
    assert chains["default"]["licence"].startswith("Apache-2.0")
    assert chains["agpl"]["licence"].startswith("AGPL-3.0")
    for chain in ("default", "agpl"):
        cold = chains[chain]["sets"]["named"]["cold"]
        assert cold["photos"] == 2 and cold["exact"] == 1.0 and cold["detection_recall"] is None
        ms = chains[chain]["ms"]
        assert {"vehicle_detect", "plate_detect_frame", "ocr", "decode"} <= set(ms["per_call"])
        assert ms["per_vehicle"]["vehicles"] >= 1
    assert chains["plain"]["sets"]["named"]["cold"]["photos"] == 2
    assert report["exact"]["named"] == {
        chain: row["sets"]["named"]["cold"]["exact"] for chain, row in chains.items()
    }


def test_bench_adds_a_row_of_rendered_plates(
    source: tuple[Path, BBox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = source[0].parent
    code = main(
        ["bench", "anpr", str(folder), "--json", "--quick", "--no-warmup", "--chains", "agpl"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    rendered = report["chains"]["agpl"]["sets"]["rendered"]["cold"]
    # Eleven plates (French SIV and FNI, German, Spanish, Italian, Dutch, two rows) on one photo
    # (--quick keeps one labelled photo 100 px wide in 20).
    assert rendered["photos"] % 11 == 0 and rendered["photos"] >= 11
    assert rendered["exact"] is not None and rendered["detection_recall"] is not None
    assert set(report["exact"]) == {"us", "rendered"}


def test_bench_refuses_unknown_countries() -> None:
    assert main(["bench", "anpr", ".", "--countries", "xx"]) == 2
