"""The licence-clean finder's window search: cheap plate candidates confirmed by the text detector.

Real photos (plates/us), the real COCO vehicle detector and the real PP-OCR text detector from
the rapidocr wheel (both loaded by path with their sha256 checked by the loader).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.plates import plate_on_photo, read_rgb, render_plate
from tests.support.shared import MEDIA_DIR
from vigil_core.anpr.candidates import (
    Bands,
    Candidate,
    CandidateSearch,
    find_candidates,
    picked,
    separate,
    stroke_map,
)
from vigil_core.anpr.detect import PlateBox, merge
from vigil_core.anpr.models import AnprModels, ReaderSettings
from vigil_core.anpr.reader import PlateReader, main_plate
from vigil_core.anpr.text_detect import (
    FRAME_CLOSER,
    FRAME_WINDOW_OVERLAP,
    MAX_WINDOW_ZOOM,
    WIDER_ZOOM,
    WINDOW,
    TextPlateFinder,
)
from vigil_core.inference.detectors import YoloxDetector
from vigil_core.inference.preprocess import resize
from vigil_core.inference.session import SessionCache
from vigil_core.types import BBox
from vigil_tools.eval.anpr import (
    MAX_WIDTH,
    VEHICLE_CLASSES,
    VEHICLE_MIN_SCORE,
    LabelledPhoto,
    load_folder,
)
from vigil_tools.eval.rendered_plates import PLATES as RENDERED_PLATES
from vigil_tools.eval.rendered_plates import paint

PHOTOS = ("33fa5185-0286-4e8f-b775-46162eba39d4.jpg", "car13.jpg", "car2.jpg", "car9-2.jpg")
"""plates/us photos: a 29-px plate on a 1280-px frame, a 102-px one, a 1024-px photo, and a
street of 13 vehicles."""


@pytest.fixture(scope="module")
def models_dir() -> Path:  # module scope: the shared fixture is per test
    from tests.support.shared import MODELS_DIR  # noqa: PLC0415

    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return MODELS_DIR


@pytest.fixture(scope="module")
def sessions() -> SessionCache:
    return SessionCache()


@pytest.fixture(scope="module")
def models(models_dir: Path, sessions: SessionCache) -> AnprModels:
    """The default, licence-clean models: PP-OCR text detector (windows) and CCT OCR."""
    return AnprModels(sessions=sessions, models_dir=models_dir)


@pytest.fixture(scope="module")
def reader(models: AnprModels) -> PlateReader:
    return models.reader(ReaderSettings())


@pytest.fixture(scope="module")
def finder(reader: PlateReader) -> TextPlateFinder:
    assert isinstance(reader.finder, TextPlateFinder)
    return reader.finder


@pytest.fixture(scope="module")
def vehicles(models_dir: Path, sessions: SessionCache) -> YoloxDetector:
    return YoloxDetector.load(
        models_dir=models_dir,
        sessions=sessions,
        confidence=VEHICLE_MIN_SCORE,
        classes=VEHICLE_CLASSES,
    )


@pytest.fixture(scope="module")
def photos() -> dict[str, LabelledPhoto]:
    return {p.path.name: p for p in _us_photos() if p.path.name in PHOTOS}


def _us_photos() -> list[LabelledPhoto]:
    """Return the labelled plates/us photos (the test is skipped without them)."""
    folder = MEDIA_DIR / "plates" / "us"
    if not folder.is_dir():
        pytest.skip("the shared plate photos are not on this machine")
    return load_folder(folder)


def _us_photo(name: str) -> LabelledPhoto:
    (photo,) = [p for p in _us_photos() if p.path.name == name]
    return photo


def _largest_vehicle(vehicles: YoloxDetector, image: np.ndarray) -> BBox:
    return max((det.bbox for det in vehicles.detect(image)), key=lambda box: box.area)


def _frame(photo: LabelledPhoto) -> tuple[np.ndarray, BBox]:
    """Return the photo at the engine's default analysis width (1280 at most) and its plate."""
    image = read_rgb(photo.path)
    assert photo.box is not None
    scale = min(1.0, MAX_WIDTH / image.shape[1])
    if scale == 1.0:
        return image, photo.box
    size = (MAX_WIDTH, round(image.shape[0] * scale))
    return resize(image, *size), photo.box.scaled(scale, scale)


def _as_box(window: tuple[int, int, int, int]) -> BBox:
    return BBox(*(float(v) for v in window))


def _holds(window: tuple[int, int, int, int], box: BBox) -> bool:
    x1, y1, x2, y2 = window
    return x1 <= box.x1 and box.x2 <= x2 and y1 <= box.y1 and box.y2 <= y2


@pytest.mark.parametrize("name", PHOTOS)
def test_the_window_search_finds_and_reads_the_plate_on_a_real_photo(
    name: str,
    photos: dict[str, LabelledPhoto],
    vehicles: YoloxDetector,
    finder: TextPlateFinder,
    reader: PlateReader,
) -> None:
    """A window holds the labelled plate, the detector boxes it there, and the CCT reads it."""
    photo = photos[name]
    image, plate = _frame(photo)
    found = [(index, det.bbox) for index, det in enumerate(vehicles.detect(image))]
    assert found, "the vehicle detector found no vehicle"
    windows = [window for _, box in found for window, _ in finder.candidate_windows(image, box)]
    assert len(windows) <= (finder.windows + 1) * len(found)  # and the lowest band's
    assert any(_holds(window, plate) for window in windows)
    boxes = finder.in_vehicles(image, found)
    assert any(box.bbox.iou(plate) > 0.3 for box in boxes)
    assert all(box.source == "vehicle" and box.vehicle is not None for box in boxes)
    main = main_plate(reader.read(image, found), image.shape[1], image.shape[0])
    assert main is not None and main.text == photo.plate
    assert main.box.bbox.iou(plate) > 0.3


def test_windows_are_small_and_at_the_plate_scale(
    photos: dict[str, LabelledPhoto], vehicles: YoloxDetector, finder: TextPlateFinder
) -> None:
    """Each window is WINDOW detector pixels: the labelled plate is 10-40 px tall in its own."""
    image, plate = _frame(photos[PHOTOS[0]])
    vehicle = _largest_vehicle(vehicles, image)
    windows = finder.candidate_windows(image, vehicle)
    assert 1 <= len(windows) <= finder.windows
    holding = [scale for window, scale in windows if _holds(window, plate)]
    assert holding and 10 <= plate.height * holding[0] <= 40
    for (x1, y1, x2, y2), scale in windows:
        assert round((x2 - x1) * scale) <= WINDOW[0] + 1
        assert round((y2 - y1) * scale) <= WINDOW[1] + 1


def test_dark_strokes_answer_and_single_edges_do_not() -> None:
    gray = np.full((20, 40), 200, np.uint8)
    gray[:, 10:12] = 40  # a dark stroke, 2 px wide
    gray[:, 30:] = 40  # an edge: dark from here to the right border
    strokes = stroke_map(gray, cap=40.0)
    assert strokes[5, 10] == 40.0 and strokes[5, 11] == 40.0
    assert strokes[5, 29:].max() == 0.0 and strokes[5, :9].max() == 0.0
    gray[:, 10:12] = 250  # a light stroke is no dark one
    assert stroke_map(gray, cap=40.0)[5, 10] == 0.0


def test_a_band_of_strokes_beats_a_single_blob() -> None:
    """Strokes across a band make a candidate; a blob as dense in one third does not win."""
    gray = np.full((120, 320), 180, np.uint8)
    gray[60:72, 100:160:4] = 30  # 15 strokes, 12 px tall: a line of characters
    gray[20:32, 250:262:2] = 30  # a dense blob, a third as wide
    (best, *_) = find_candidates(gray, 2, CandidateSearch())
    assert best.box.x1 <= 110 and best.box.x2 >= 150
    assert best.box.y1 <= 64 and best.box.y2 >= 68


@pytest.mark.parametrize(
    "gray",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((5, 5), np.uint8),
        np.full((200, 320), 128, np.uint8),
        np.zeros((10,), np.uint8),
    ],
    ids=["empty", "tiny", "uniform", "one-dimensional"],
)
def test_nothing_to_find_gives_no_candidate(gray: np.ndarray) -> None:
    assert find_candidates(gray, 3) == []


def test_candidates_of_several_scales_are_kept_best_first_and_apart() -> None:
    """A line found at one scale and its part at another are one candidate, the better scored."""
    line = Candidate(BBox(100, 50, 200, 70), 0.9)
    part = Candidate(BBox(150, 52, 190, 68), 0.95)  # wholly inside the line
    other = Candidate(BBox(300, 200, 380, 220), 0.5)
    weak = Candidate(BBox(10, 10, 60, 30), 0.1)
    assert separate([line, other, part, weak], 3, 0.2) == [part, other, weak]
    assert separate([line, other, part, weak], 2, 0.2) == [part, other]
    assert separate([line, part], 5, 1.0) == [part, line]  # any overlap allowed
    assert separate([], 3, 0.2) == []


def test_no_candidate_is_asked_for() -> None:
    gray = np.full((120, 320), 180, np.uint8)
    gray[60:72, 100:160:4] = 30
    assert find_candidates(gray, 0) == []


def test_bad_vehicle_boxes_and_blank_frames_give_no_plate(finder: TextPlateFinder) -> None:
    """Off-frame, degenerate, too small and blank vehicles: no box, no error."""
    frame = np.full((360, 640, 3), 128, np.uint8)
    bad = [
        (0, BBox(700, 400, 900, 500)),  # wholly outside the frame
        (1, BBox(100, 100, 100, 300)),  # no width
        (2, BBox(10, 10, 30, 30)),  # smaller than a vehicle can be
        (3, BBox(-50, -50, 700, 420)),  # larger than the frame, blank
    ]
    assert finder.in_vehicles(frame, bad) == []
    small = np.full((20, 30, 3), 128, np.uint8)  # a frame smaller than one window
    assert finder.in_vehicles(small, [(0, BBox(0, 0, 30, 20))]) == []


def test_the_earlier_tiled_search_is_still_there(models_dir: Path, sessions: SessionCache) -> None:
    """`tiles` runs the detector over the whole lower part (the benchmark's `tiled` chain)."""
    models = AnprModels(sessions=sessions, models_dir=models_dir, vehicle_search="tiles")
    finder = models.finder()
    assert isinstance(finder, TextPlateFinder) and finder.search is None


def test_the_search_stops_once_the_reader_finds_a_legible_plate(
    photos: dict[str, LabelledPhoto], vehicles: YoloxDetector, finder: TextPlateFinder
) -> None:
    """Windows run best first until `enough`: always enough is the first window's boxes only."""
    image, plate = _frame(photos[PHOTOS[0]])
    vehicle = _largest_vehicle(vehicles, image)
    windows = finder.candidate_windows(image, vehicle)
    assert len(windows) in (2, 3)

    def boxes(found: list[PlateBox]) -> list[BBox]:
        return sorted((box.bbox for box in found), key=lambda b: (b.x1, b.y1))

    first = finder.in_vehicles(image, [(0, vehicle)], lambda _found: True)
    in_first = finder._plates_in(image, windows[:1], 0, vehicle)
    assert boxes(first) == boxes([box for box, _cut in in_first])
    assert not all(cut for _box, cut in in_first)  # a whole line, not one cut by a side
    every = finder.in_vehicles(image, [(0, vehicle)], lambda _found: False)
    # Never enough: both windows, the best one closer (`CLOSER_ZOOM`), the lowest band's.
    closer = finder._closer(image, windows[0])
    assert closer is not None and closer[1] == pytest.approx(2 * windows[0][1])
    steps = finder._steps(image, windows)
    assert steps == [[windows[0]], [windows[1]], [closer]] + [[w] for w in windows[2:]]
    in_all = finder._plates_in(image, [*windows, closer], 0, vehicle)
    assert boxes(every) == boxes([box for box, _cut in in_all])
    batch = finder.in_vehicles(image, [(0, vehicle)])  # without `enough`: the windows only
    assert boxes(batch) == boxes([box for box, _ in finder._plates_in(image, windows, 0, vehicle)])
    assert len(every) >= len(first) and any(box.bbox.iou(plate) > 0.3 for box in first)


def test_lower_bands_outrank_equal_ones_above() -> None:
    """Weighted by depth, the same band scores twice as much at the bottom as in the middle."""
    rows = np.asarray([[1.0, 0, 0, 30, 10], [1.0, 0, 45, 30, 55], [0.9, 0, 90, 30, 100]])
    bands = Bands(rows.astype(np.float32), np.zeros((100, 40), np.float32), 100)
    low = bands.lower_first()
    assert low.rows[:, 0] == pytest.approx([0.1, 1.0, 1.71])
    assert bands.rows[:, 0] == pytest.approx([1.0, 1.0, 0.9])  # the bands themselves unchanged
    search = CandidateSearch(widen=False)
    assert picked(bands, 1, search)[0].box.y1 == 0
    assert picked(low, 1, search)[0].box.y1 == 90
    assert picked(bands, 0, search) == []


def test_the_lowest_band_gets_a_window_when_lamps_outscore_the_plate(
    vehicles: YoloxDetector, finder: TextPlateFinder, reader: PlateReader
) -> None:
    """wts-lg-000013: the dark gaps between a lamp's LEDs score above the plate below them.

    The two best bands are on the lamps; the lowest band's window, third, holds the plate, and
    the vehicle's plate reads. Without it the plate is not read.
    """
    photo = _us_photo("wts-lg-000013.jpg")
    image, plate = _frame(photo)
    vehicle = _largest_vehicle(vehicles, image)
    windows = finder.candidate_windows(image, vehicle)
    assert len(windows) == finder.windows + 1
    assert not any(_holds(window, plate) for window, _ in windows[: finder.windows])
    assert _holds(windows[-1][0], plate)
    main = main_plate(reader.read(image, [(0, vehicle)]), image.shape[1], image.shape[0])
    assert main is not None and main.text == photo.plate == "DH5X9P"
    finder.low_window = False
    try:
        assert len(finder.candidate_windows(image, vehicle)) == finder.windows
        main = main_plate(reader.read(image, [(0, vehicle)]), image.shape[1], image.shape[0])
        assert main is None or main.text != photo.plate
    finally:
        finder.low_window = True


def test_a_window_that_cuts_a_two_row_plate_loses_to_one_that_sees_it_whole(
    vehicles: YoloxDetector, finder: TextPlateFinder, reader: PlateReader
) -> None:
    """The bench's French two-row plate AB-123 over CD on its third photo (plates/us car12).

    The best window cuts the plate's second row at its side; the second window holds the
    whole stacked pair. Both pairs score alike: the cut one, lowered by CUT_SCORE, loses the
    merge, and the whole plate reads (it read `AB123` before).
    """
    base = [p for p in _us_photos() if p.box is not None and p.box.width >= 100][2]
    (plate,) = [p for p in RENDERED_PLATES if p.second_row == "CD"]
    image, box = _frame(base)
    image, painted = paint(image, box, plate)
    vehicle = _largest_vehicle(vehicles, image)
    windows = finder.candidate_windows(image, vehicle)
    lines = finder.lines_in_windows(image, windows[:2])
    pairs = [line for line in lines if line.box.height > 0.6 * painted.height]
    assert any(line.cut and line.window == 0 for line in pairs)
    assert any(not line.cut and line.window == 1 for line in pairs)
    found = finder.in_vehicles(image, [(0, vehicle)], lambda _found: False)
    kept = merge(found, finder.nms_iou)
    (pair,) = [b for b in kept if b.bbox.height > 0.6 * painted.height]
    whole = [line for line in pairs if not line.cut]
    assert any(line.box == pair.bbox for line in whole)
    main = main_plate(reader.read(image, [(0, vehicle)]), image.shape[1], image.shape[0])
    assert main is not None and main.text == "AB123CD"


def test_a_plate_the_detector_misses_at_the_usual_scale_is_found_closer(
    vehicles: YoloxDetector, finder: TextPlateFinder, reader: PlateReader
) -> None:
    """wts-lg-000142: the best window holds the plate, but the detector sees no line in it.

    No window holds a legible plate, so the best one is looked at again at CLOSER_ZOOM times
    its scale, where the plate is found and reads.
    """
    photo = _us_photo("wts-lg-000142.jpg")
    image, plate = _frame(photo)
    vehicle = _largest_vehicle(vehicles, image)
    windows = finder.candidate_windows(image, vehicle)
    assert _holds(windows[0][0], plate)
    assert not any(
        plate.contains(line.box.center) for line in finder.lines_in_windows(image, windows)
    )
    closer = finder._closer(image, windows[0])
    assert closer is not None
    (x1, y1, x2, y2), _scale = closer
    assert plate.contains(((x1 + x2) / 2, (y1 + y2) / 2))
    assert any(plate.contains(line.box.center) for line in finder.lines_in_windows(image, [closer]))
    reads = reader.read(image, [(0, vehicle)])
    main = main_plate(reads, image.shape[1], image.shape[0])
    assert main is not None and main.text == photo.plate == "5TGN556"
    # Nothing closer than MAX_WINDOW_ZOOM: a window already there is not looked at again.
    assert finder._closer(image, ((0, 0, 43, 21), MAX_WINDOW_ZOOM)) is None


def test_over_the_frame_the_best_windows_are_looked_at_closer_when_nothing_reads(
    finder: TextPlateFinder, reader: PlateReader
) -> None:
    """wts-lg-000142 in `full_frame` mode: no line of the four frame windows is on the plate.

    Nothing legible was found, so the best FRAME_CLOSER windows are looked at again at
    CLOSER_ZOOM times their scale, inside the searched part, and the plate reads.
    """
    photo = _us_photo("wts-lg-000142.jpg")
    image, plate = _frame(photo)
    first = finder.in_frame(image)  # without `enough`: one look
    assert not any(plate.contains(box.bbox.center) for box in first)
    enough = reader._legible_in(image)
    assert enough is not None and not enough(first)
    again = finder.in_frame(image, None, enough)
    assert any(plate.contains(box.bbox.center) for box in again)
    main = main_plate(reader.read(image, full_frame=True), image.shape[1], image.shape[0])
    assert main is not None and main.text == photo.plate == "5TGN556"
    # In a region, the closer windows stay inside it.
    region = BBox(150, 380, 700, 600)
    bounds = (150, 380, 700, 600)
    windows = finder.frame_candidate_windows(image, bounds)
    closer = [finder._closer(image, window, bounds) for window in windows[:FRAME_CLOSER]]
    placed = [_as_box(each[0]) for each in closer if each is not None]
    assert placed and all(_holds(bounds, box) for box in placed)
    assert all(region.contains(box.bbox.center) for box in finder.in_frame(image, region, enough))


def test_the_reader_stops_on_a_legible_plate(
    photos: dict[str, LabelledPhoto], reader: PlateReader
) -> None:
    """The reader's test: a box whose first crop reads with a mean slot probability of 0.9."""
    image, plate = _frame(photos[PHOTOS[1]])
    enough = reader._legible_in(image)
    assert enough is not None
    assert enough([PlateBox(plate, 0.9, "vehicle", 0)])
    blank = BBox(0, 0, plate.width, plate.height)  # the photo's top-left corner: sky or wall
    assert not enough([PlateBox(blank, 0.9, "vehicle", 0)])
    assert not enough([])


def test_box_overlap_is_the_shared_share_of_the_smaller_box() -> None:
    big, small = BBox(0, 0, 10, 10), BBox(5, 5, 7, 7)
    assert big.intersection(small) == 4.0
    assert big.overlap(small) == small.overlap(big) == 1.0
    assert BBox(0, 0, 10, 10).overlap(BBox(5, 0, 15, 10)) == 0.5
    assert big.iou(BBox(5, 0, 15, 10)) == 50.0 / 150.0
    assert big.overlap(BBox(10, 0, 20, 10)) == big.iou(BBox(10, 0, 20, 10)) == 0.0
    assert big.contains((0, 10)) and big.contains((5, 5)) and not big.contains((10.5, 5))


# --- over the frame (`full_frame` and `both` cameras) -------------------------------------------

FRAME_PHOTOS = (PHOTOS[0], PHOTOS[1], PHOTOS[3])
"""car2's plate is in a window but the detector finds no line there over the frame (its vehicle's
window does: the test above)."""


def _box(window: tuple[int, int, int, int]) -> BBox:
    return BBox(*(float(v) for v in window))


@pytest.mark.parametrize("name", FRAME_PHOTOS)
def test_the_frame_search_finds_and_reads_the_plate_on_a_real_photo(
    name: str, photos: dict[str, LabelledPhoto], finder: TextPlateFinder, reader: PlateReader
) -> None:
    """A few small windows over the whole frame: one holds the plate, the detector boxes it."""
    photo = photos[name]
    image, plate = _frame(photo)
    whole = (0, 0, int(image.shape[1]), int(image.shape[0]))
    windows = finder.frame_candidate_windows(image, whole)
    assert 1 <= len(windows) <= finder.frame_windows
    for (x1, y1, x2, y2), scale in windows:
        assert round((x2 - x1) * scale) <= WINDOW[0] + 1
        assert round((y2 - y1) * scale) <= WINDOW[1] + 1
    assert any(_holds(window, plate) for window, _ in windows)
    for index, (window, scale) in enumerate(windows):  # no place is looked at twice
        for other, at in windows[:index]:
            similar = max(scale, at) < 2 * min(scale, at)
            assert not similar or _box(window).overlap(_box(other)) <= FRAME_WINDOW_OVERLAP
    boxes = finder.in_frame(image)
    assert any(box.bbox.iou(plate) > 0.3 for box in boxes)
    assert all(box.source == "frame" and box.vehicle is None for box in boxes)
    main = main_plate(reader.read(image, full_frame=True), image.shape[1], image.shape[0])
    assert main is not None and main.text == photo.plate
    assert main.box.bbox.iou(plate) > 0.3


def test_a_plate_cut_by_its_window_is_seen_whole_in_a_wider_one(models: AnprModels) -> None:
    """A band can be part of a large plate's line: its window then cuts the line at a side.

    car12 with a French plate painted 246 px wide over its own: the first windows see part of
    the line, cut; a window centred on the part at WIDER_ZOOM times its scale sees the whole
    line, which replaces the part, and the whole plate reads.
    """
    photo = _us_photo("car12.jpg")
    assert photo.box is not None
    image, plate = plate_on_photo(read_rgb(photo.path), photo.box, "AB-123-CD", "fr")
    reader = models.reader(ReaderSettings(countries=("fr",)))
    finder = reader.finder
    assert isinstance(finder, TextPlateFinder)
    whole = (0, 0, int(image.shape[1]), int(image.shape[0]))
    windows = finder.frame_candidate_windows(image, whole)
    first = finder.lines_in_windows(image, windows)
    parts = [line for line in first if line.cut and plate.contains(line.box.center)]
    assert parts and all(line.box.width < 0.8 * plate.width for line in parts)
    wider = finder._wider_windows(whole, windows, first)
    assert 1 <= len(wider) <= len(windows)
    assert any(
        scale == pytest.approx(windows[parts[0].window][1] * WIDER_ZOOM) for _, scale in wider
    )
    lines = finder._frame_lines(image, whole, windows)
    assert not any(line.cut and plate.contains(line.box.center) for line in lines)
    assert any(line.box.width >= 0.85 * plate.width and line.box.iou(plate) > 0.5 for line in lines)
    main = main_plate(reader.read(image, full_frame=True), image.shape[1], image.shape[0])
    assert main is not None and main.text == "AB123CD"


def test_a_region_smaller_than_a_search_level_is_searched_and_bounds_the_windows(
    reader: PlateReader, finder: TextPlateFinder
) -> None:
    """A barrier camera's region 114 × 40 px around a painted plate: searched, windows inside."""
    plate = render_plate("XY-789-ZA", "fr", height=20)
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[200 : 200 + plate.shape[0], 300 : 300 + plate.shape[1]] = plate
    region = BBox(290, 190, 310 + plate.shape[1], 210 + plate.shape[0])
    bounds = (290, 190, 310 + plate.shape[1], 210 + plate.shape[0])
    windows = finder.frame_candidate_windows(frame, bounds)
    assert windows
    assert all(_holds(bounds, _box(window)) for window, _ in windows)
    assert [read.text for read in reader.read(frame, full_frame=True, region=region)] == ["XY789ZA"]


@pytest.mark.parametrize(
    "frame",
    [np.full((360, 640, 3), 128, np.uint8), np.full((20, 30, 3), 128, np.uint8)],
    ids=["blank", "smaller-than-a-window"],
)
def test_a_frame_without_text_gives_no_window_line_or_plate(
    frame: np.ndarray, finder: TextPlateFinder
) -> None:
    whole = (0, 0, int(frame.shape[1]), int(frame.shape[0]))
    assert finder.frame_candidate_windows(frame, whole) == []
    assert finder.in_frame(frame) == []


def test_the_earlier_tiled_chain_keeps_its_frame_tiles(
    models_dir: Path, sessions: SessionCache, photos: dict[str, LabelledPhoto]
) -> None:
    """Without a window search (`tiles`), the frame pass runs the detector on tiles at 768 px."""
    models = AnprModels(sessions=sessions, models_dir=models_dir, vehicle_search="tiles")
    finder = models.finder()
    assert isinstance(finder, TextPlateFinder) and finder.search is None
    image, plate = _frame(photos[PHOTOS[1]])
    assert any(box.bbox.iou(plate) > 0.3 for box in finder.in_frame(image))
