"""Plate OCR adapters: the fast-plate-ocr CCT model and rapidocr's PP-OCR recogniser."""

from __future__ import annotations

from collections.abc import Sequence
import importlib.util
import math
from pathlib import Path
import threading

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
from PIL import Image

from vigil_core.errors import ModelInvalid, ModelMissing
from vigil_core.inference.loader import file_sha256
from vigil_core.inference.registry import Architecture
from vigil_core.inference.session import ModelSession, SessionOptions
from vigil_core.plates.normalize import ALNUM
from vigil_core.types import RGBImage

type TextRead = tuple[str, float]
"""(upper-case A-Z 0-9 text, mean character probability 0–1)."""


class CctOcr:
    """fast-plate-ocr CCT: uint8 RGB 128×64 in, one softmax over `0-9A-Z_` per slot out.

    Resizing is the model's own (plain, aspect not kept); the crop decides what it sees.
    """

    def __init__(self, session: ModelSession) -> None:
        """Wrap a loaded registry session of a ``cct_ocr`` model."""
        spec = session.spec
        if spec.architecture is not Architecture.CCT_OCR:
            raise ModelInvalid(
                f"model '{spec.name}' is not a cct_ocr model",
                {"model": spec.name, "path": str(session.path)},
            )
        self.session = session
        self.alphabet = "".join(spec.labels)
        self.pad_char = spec.decode.pad_char or "_"
        self.width = spec.input.width
        self.height = spec.input.height

    def prepare(self, crop: RGBImage) -> RGBImage:
        """Resize a plate crop to the model input (bilinear, as the model was trained)."""
        pil = Image.fromarray(np.ascontiguousarray(crop))
        return np.asarray(pil.resize((self.width, self.height), Image.Resampling.BILINEAR))

    def probabilities(self, crops: Sequence[RGBImage]) -> npt.NDArray[np.float32]:
        """Return B×S×K slot probabilities for crops already at the model size."""
        if not crops:
            return np.zeros((0, 0, len(self.alphabet)), dtype=np.float32)
        batch = np.ascontiguousarray(np.stack(list(crops)))
        step = self.session.batch_size or len(crops)
        outputs = [self.session.run(batch[i : i + step])[0] for i in range(0, len(batch), step)]
        return np.concatenate(outputs).astype(np.float32, copy=False)


# --- rapidocr ----------------------------------------------------------------------------------

RAPID_REC_FILE = "PP-OCRv6_rec_small.onnx"
RAPID_REC_SHA256 = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
"""PP-OCRv6 small recogniser in the rapidocr 3.10 wheel (Apache-2.0), as rapidocr pins it."""

_RAPID_HEIGHT = 48
_RAPID_MAX_WIDTH = 320


def rapid_model_path() -> Path:
    """Return the recogniser inside the installed rapidocr wheel; ModelMissing when absent."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            "the rapidocr OCR needs the optional package: pip install 'vigil-analytics[anpr]'",
            {"model": "rapidocr", "file": RAPID_REC_FILE, "looked": "python packages"},
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / RAPID_REC_FILE
    if not path.is_file():
        raise ModelMissing(
            f"rapidocr is installed but {RAPID_REC_FILE} is not in its wheel",
            {"model": "rapidocr", "file": RAPID_REC_FILE, "looked": str(path.parent)},
        )
    return path


class RapidOcr:
    """PP-OCR text-line recogniser from the rapidocr wheel, run directly (CTC decoding here).

    Only the ONNX file is used, not rapidocr's Python pipeline, so OpenCV is not needed at
    run time. Lower-case letters are dropped from the reading: plates are upper-case, while the
    script lettering around them (state names, dealer frames) mostly is not.
    """

    def __init__(self, path: Path, options: SessionOptions, *, verify: bool = True) -> None:
        """Load the model (after checking its sha256) and its character table."""
        if verify and file_sha256(path) != RAPID_REC_SHA256:
            raise ModelInvalid(
                f"{path} is not the rapidocr recogniser Vigil was tested with (sha256 differs)",
                {"model": "rapidocr", "path": str(path)},
            )
        self._session = ort.InferenceSession(
            str(path), sess_options=options.to_ort(), providers=["CPUExecutionProvider"]
        )
        table = self._session.get_modelmeta().custom_metadata_map.get("character", "")
        chars = ["", *table.split("\n"), " "]
        self._keep = np.asarray(
            [0] + [i for i, c in enumerate(chars) if len(c) == 1 and c.upper() in ALNUM],
            dtype=np.intp,
        )
        self._chars = chars
        self._input = self._session.get_inputs()[0].name

    def read(self, crop: RGBImage) -> TextRead:
        """Return the plate characters on one crop and their mean probability."""
        height, width = int(crop.shape[0]), int(crop.shape[1])
        if height < 2 or width < 2:
            return "", 0.0
        target = max(16, min(_RAPID_MAX_WIDTH, math.ceil(_RAPID_HEIGHT * width / height)))
        pil = Image.fromarray(np.ascontiguousarray(crop)).resize(
            (target, _RAPID_HEIGHT), Image.Resampling.BILINEAR
        )
        # PaddleOCR models take BGR scaled to -1..1.
        bgr = np.asarray(pil, dtype=np.float32)[..., ::-1]
        tensor = np.ascontiguousarray(((bgr / 127.5) - 1.0).transpose(2, 0, 1)[None])
        probs = np.asarray(self._session.run(None, {self._input: tensor})[0][0])
        kept = probs[:, self._keep]
        best = self._keep[kept.argmax(axis=1)]
        conf = kept.max(axis=1)
        text: list[str] = []
        confs: list[float] = []
        previous = -1
        for index, score in zip(best.tolist(), conf.tolist(), strict=True):
            if index not in (previous, 0):
                char = self._chars[index]
                if char in ALNUM:
                    text.append(char)
                    confs.append(float(score))
            previous = index
        return "".join(text), (sum(confs) / len(confs) if confs else 0.0)


_rapid_cache: dict[tuple[Path, SessionOptions], RapidOcr] = {}
_rapid_lock = threading.Lock()


def shared_rapid_ocr(options: SessionOptions, path: Path | None = None) -> RapidOcr:
    """Return the process-wide RapidOcr for these options, loading it once."""
    path = path or rapid_model_path()
    key = (path.resolve(), options)
    with _rapid_lock:
        ocr = _rapid_cache.get(key)
        if ocr is None:
            ocr = RapidOcr(path, options)
            _rapid_cache[key] = ocr
        return ocr
