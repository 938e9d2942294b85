"""Model registry, loader (search, sha256, download) and session loading."""

from __future__ import annotations

from collections.abc import Iterator
import functools
import hashlib
import http.server
import os
from pathlib import Path
import re
import threading
from typing import Any

import pytest

from tests.support.shared import MODELS_DIR, model_file
from vigil_core.config import InferenceSpec
from vigil_core.errors import (
    ModelChecksumMismatch,
    ModelInvalid,
    ModelMissing,
    ModelRoleRefused,
    UnknownModel,
)
from vigil_core.inference import loader
from vigil_core.inference.loader import (
    StderrProgress,
    cache_dir,
    download_verified,
    file_sha256,
    resolve_model,
    search_places,
    shared_candidates,
)
from vigil_core.inference.registry import (
    REGISTRY_RESOURCE,
    ModelRegistry,
    ModelRole,
    RegistryInvalid,
    default_registry,
    load_registry,
)
from vigil_core.inference.session import SessionCache, SessionOptions

REPO = Path(__file__).resolve().parents[2]
PINNED_URL = re.compile(
    r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/[\w./-]+$"
)


def _entry(**overrides: Any) -> dict[str, Any]:
    """Return a valid registry entry (a 416 YOLOX detector) with some fields replaced."""
    entry: dict[str, Any] = {
        "name": "test_model",
        "role": "object_detection",
        "architecture": "yolox",
        "licence": "Apache-2.0",
        "file": "test_model.onnx",
        "sha256": "0" * 64,
        "url": None,
        "source": "made by the test",
        "input": {
            "name": "images",
            "shape": [1, 3, 416, 416],
            "layout": "NCHW",
            "dtype": "float32",
            "colour": "BGR",
            "scale": 1.0,
            "mean": [0.0, 0.0, 0.0],
            "std": [1.0, 1.0, 1.0],
            "letterbox": "top_left",
            "pad_value": 114,
        },
        "decode": {"strides": [8, 16, 32]},
        "labels": ["person"],
    }
    entry.update(overrides)
    return entry


def _registry(*entries: dict[str, Any]) -> ModelRegistry:
    return ModelRegistry.from_data({"models": list(entries)}, origin="test")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run with no env model dir, a temporary cache and a working dir without ../shared."""
    work = tmp_path / "work" / "cwd"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv(loader.ENV_MODEL_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


# --- the shipped registry ----------------------------------------------------------------------


def test_shipped_registry_covers_every_shared_model() -> None:
    if not (MODELS_DIR / "SHA256SUMS").is_file():
        pytest.skip("shared models are not on this machine")
    registry = default_registry()
    sums = {}
    for line in (MODELS_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    onnx_files = {name: digest for name, digest in sums.items() if name.endswith(".onnx")}
    if not onnx_files:
        pytest.skip("shared models are not on this machine")
    # Models inside a Python package (the PP-OCR text detector in the rapidocr wheel) are not in
    # the shared folder.
    by_file = {spec.file: spec for spec in registry if spec.package is None}
    assert set(by_file) == set(onnx_files)
    for file, digest in onnx_files.items():
        spec = by_file[file]
        assert spec.sha256 == digest
        assert spec.name == Path(file).stem
        assert spec.role in set(ModelRole)
        assert spec.licence
        if spec.url is None:
            assert "No public URL" in spec.source
        else:
            assert PINNED_URL.match(spec.url), spec.url
            assert spec.url.endswith(".onnx")


def test_shipped_registry_labels_and_inputs() -> None:
    registry = default_registry()
    coco = registry.get("yolox_nano").labels
    assert len(coco) == 80
    assert coco[:9] == (
        "person",
        "bicycle",
        "car",
        "motorcycle",
        "airplane",
        "bus",
        "train",
        "truck",
        "boat",
    )
    assert coco[-1] == "toothbrush"
    assert registry.get("picodet_s_320_coco").labels == coco
    assert registry.get("light_person_detector_192").labels == ("person",)
    assert registry.get("safelicensing_yolov8n_plate_384").labels == ("plate",)
    ocr = registry.get("cct_xs_v1_global")
    assert "".join(ocr.labels) == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    assert ocr.decode.slots == 9
    yolox = registry.get("yolox_nano").input
    assert (yolox.colour, yolox.letterbox, yolox.pad_value, yolox.width) == (
        "BGR",
        "top_left",
        114,
        416,
    )
    plate = registry.get("safelicensing_yolov8n_plate_640").input
    assert (plate.colour, plate.letterbox, plate.width) == ("RGB", "centre", 640)
    assert ocr.input.batch is None
    assert ocr.input.layout == "NHWC"


def test_package_resource_is_the_repository_registry() -> None:
    link = REPO / "core" / "vigil_core" / "inference" / REGISTRY_RESOURCE
    assert link.resolve() == (REPO / "models" / "registry.yaml").resolve()


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["face_recognition", "face_detection", "person_reid", "gait", "age_gender"]
)
def test_refuses_biometric_roles(role: str) -> None:
    with pytest.raises(ModelRoleRefused, match=f"role '{role}'.*refuses") as err:
        _registry(_entry(role=role))
    assert "\n" not in str(err.value)
    assert err.value.translation_key == "model_role_refused"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sha256": "abc"}, "sha256 must be 64 hex digits"),
        ({"file": "../escape.onnx"}, "bare file name"),
        ({"colour": "red"}, "unknown field"),
        ({"architecture": "resnet"}, "architecture 'resnet'"),
        ({"labels": []}, "labels must be a non-empty list"),
        ({"labels": ["a", "a"]}, "labels must be unique"),
        ({"url": "ftp://example.org/x.onnx"}, "url must be"),
        ({"decode": {}}, "needs decode.strides"),
    ],
)
def test_rejects_malformed_entries(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryInvalid, match=re.escape(message)):
        _registry(_entry(**overrides))


def test_rejects_bad_input_spec_and_duplicates() -> None:
    entry = _entry()
    entry["input"] = {**entry["input"], "shape": [1, 3, 416, None]}
    with pytest.raises(RegistryInvalid, match="shape"):
        _registry(entry)
    with pytest.raises(RegistryInvalid, match="declared twice"):
        _registry(_entry(), _entry())


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UnknownModel, match="unknown model 'yolo_giant'") as err:
        default_registry().get("yolo_giant")
    for name in ("yolox_nano", "picodet_s_320_coco", "cct_xs_v1_global"):
        assert name in str(err.value)


# --- finding and verifying files ---------------------------------------------------------------


def test_resolves_from_models_dir_env_and_explicit_path(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = model_file("yolox_nano.onnx")
    assert resolve_model("yolox_nano", models_dir=MODELS_DIR) == shared
    monkeypatch.setenv(loader.ENV_MODEL_DIR, str(MODELS_DIR))
    assert resolve_model("yolox_nano") == shared
    assert resolve_model("yolox_nano", path=shared) == shared
    assert resolve_model("yolox_nano", path=MODELS_DIR) == shared


def test_finds_shared_models_next_to_the_repository(isolated: Path) -> None:
    model_file("yolox_nano.onnx")
    places = search_places(default_registry().get("yolox_nano"))
    assert any(place.origin.endswith("from the repository") for place in places)
    assert resolve_model("yolox_nano").parent == MODELS_DIR


def test_missing_file_names_every_place_looked(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(loader.ENV_MODEL_DIR, str(isolated / "env"))
    registry = _registry(_entry(file="nowhere_at_all.onnx"))
    with pytest.raises(ModelMissing) as err:
        resolve_model(
            "test_model",
            path=isolated / "explicit.onnx",
            models_dir=isolated / "md",
            registry=registry,
        )
    message = str(err.value)
    assert "\n" not in message
    assert "model 'test_model'" in message
    expected = [
        isolated / "explicit.onnx",
        isolated / "md" / "nowhere_at_all.onnx",
        isolated / "env" / "nowhere_at_all.onnx",
        isolated / "work" / "shared" / "models" / "nowhere_at_all.onnx",
        REPO.parent / "shared" / "models" / "nowhere_at_all.onnx",
        isolated / "cache" / "vigil" / "models" / "nowhere_at_all.onnx",
    ]
    for place in expected:
        assert str(place) in message
    positions = [message.index(str(place)) for place in expected]
    assert positions == sorted(positions)


def test_wrong_hash_names_file_expected_and_actual(isolated: Path) -> None:
    folder = isolated / "md"
    folder.mkdir()
    (folder / "test_model.onnx").write_bytes(b"not the registered bytes")
    actual = hashlib.sha256(b"not the registered bytes").hexdigest()
    with pytest.raises(ModelChecksumMismatch) as err:
        resolve_model("test_model", models_dir=folder, registry=_registry(_entry()))
    message = str(err.value)
    assert str(folder / "test_model.onnx") in message
    assert "0" * 64 in message
    assert actual in message
    assert "\n" not in message


def test_digest_is_cached_by_path_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "blob.bin"
    target.write_bytes(b"a" * 1000)
    calls = []
    real = hashlib.sha256

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(loader.hashlib, "sha256", counting)
    first = file_sha256(target)
    assert file_sha256(target) == first
    assert len(calls) == 1
    target.write_bytes(b"b" * 1001)
    assert file_sha256(target) != first
    assert len(calls) == 2


def test_corrupt_model_file_is_invalid(isolated: Path) -> None:
    folder = isolated / "md"
    folder.mkdir()
    junk = os.urandom(4096)
    (folder / "test_model.onnx").write_bytes(junk)
    registry = _registry(_entry(sha256=hashlib.sha256(junk).hexdigest()))
    path = resolve_model("test_model", models_dir=folder, registry=registry)
    with pytest.raises(ModelInvalid, match="cannot be loaded by onnxruntime") as err:
        SessionCache().get(registry.get("test_model"), path, InferenceSpec())
    assert "\n" not in str(err.value)


def test_input_shape_must_match_registry(isolated: Path) -> None:
    real = default_registry().get("yolox_nano")
    entry = _entry(file=real.file, sha256=real.sha256)
    entry["input"] = {**entry["input"], "shape": [1, 3, 320, 320]}
    registry = _registry(entry)
    path = resolve_model("test_model", models_dir=model_file(real.file).parent, registry=registry)
    with pytest.raises(
        ModelInvalid, match=r"input shape is \[1, 3, 416, 416\], expected \[1, 3, 320, 320\]"
    ):
        SessionCache().get(registry.get("test_model"), path, InferenceSpec())


def test_session_cache_shares_one_session_per_file_and_options() -> None:
    spec = default_registry().get("light_person_detector_192")
    path = model_file(spec.file)
    cache = SessionCache()
    first = cache.get(spec, path, InferenceSpec(intra_op_threads=1))
    assert cache.get(spec, path, SessionOptions(intra_op_threads=1)) is first
    assert cache.get(spec, path, InferenceSpec(intra_op_threads=2)) is not first
    assert len(cache) == 2
    assert first.batch_size == 1
    assert first.output_shapes == ((1, 756, 6),)
    ort_options = SessionOptions(intra_op_threads=2).to_ort()
    assert ort_options.intra_op_num_threads == 2
    assert ort_options.inter_op_num_threads == 1
    assert ort_options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    spinning = SessionOptions(spinning=True).to_ort()
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"


# --- download (127.0.0.1 only) -------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@pytest.fixture
def file_server(tmp_path: Path, socket_enabled: None) -> Iterator[tuple[str, Path]]:
    """Serve a folder over HTTP on 127.0.0.1; yield (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_into_cache_verified(isolated: Path, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    payload = os.urandom(300_000)
    (root / "tiny.onnx").write_bytes(payload)
    entry = _entry(
        file="tiny.onnx", sha256=hashlib.sha256(payload).hexdigest(), url=f"{base}/tiny.onnx"
    )
    registry = _registry(entry)
    with pytest.raises(ModelMissing):
        resolve_model("test_model", registry=registry)
    seen: list[tuple[int, int | None]] = []
    path = resolve_model(
        "test_model",
        allow_download=True,
        registry=registry,
        progress=lambda r, t: seen.append((r, t)),
    )
    assert path == isolated / "cache" / "vigil" / "models" / "tiny.onnx"
    assert path.read_bytes() == payload
    assert seen[0] == (0, len(payload))
    assert seen[-1] == (len(payload), len(payload))
    assert [p.name for p in path.parent.iterdir()] == ["tiny.onnx"]
    # Found in the cache from now on, without downloading.
    (root / "tiny.onnx").unlink()
    assert resolve_model("test_model", registry=registry) == path


def test_download_with_wrong_hash_leaves_nothing(
    isolated: Path, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    (root / "tiny.onnx").write_bytes(b"tampered")
    registry = _registry(_entry(file="tiny.onnx", url=f"{base}/tiny.onnx"))
    with pytest.raises(ModelChecksumMismatch, match=re.escape(f"{base}/tiny.onnx")):
        resolve_model(
            "test_model", allow_download=True, registry=registry, progress=lambda r, t: None
        )
    assert list((isolated / "cache" / "vigil" / "models").iterdir()) == []


def test_download_http_error_is_missing(isolated: Path, file_server: tuple[str, Path]) -> None:
    base, _ = file_server
    registry = _registry(_entry(file="absent.onnx", url=f"{base}/absent.onnx"))
    with pytest.raises(ModelMissing, match=r"could not be downloaded.*HTTP 404"):
        resolve_model(
            "test_model", allow_download=True, registry=registry, progress=lambda r, t: None
        )


def test_no_url_model_says_how_it_was_made(isolated: Path) -> None:
    spec = default_registry().get("safelicensing_yolov8n_plate_384")
    registry = _registry(
        _entry(file="plate_elsewhere.onnx", url=None, source=spec.source, labels=["plate"])
    )
    with pytest.raises(ModelMissing, match=re.escape("safelicensing==1.0.3")):
        resolve_model("test_model", allow_download=True, registry=registry)


def test_download_verified_any_file(isolated: Path, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "clip.avi").write_bytes(b"video bytes")
    digest = hashlib.sha256(b"video bytes").hexdigest()
    target = cache_dir("media") / "clip.avi"
    assert target == isolated / "cache" / "vigil" / "media" / "clip.avi"
    assert (
        download_verified(f"{base}/clip.avi", target, digest, progress=lambda r, t: None) == target
    )
    assert target.read_bytes() == b"video bytes"
    with pytest.raises(
        ModelChecksumMismatch,
        match=r"x\.avi downloaded from .*/clip\.avi has sha256 [0-9a-f]{64}, expected 0{64}",
    ):
        download_verified(f"{base}/clip.avi", target.with_name("x.avi"), "0" * 64, progress=None)
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.avi"]


def test_shared_candidates_and_registry_files(isolated: Path, tmp_path: Path) -> None:
    assert shared_candidates() == [
        isolated / "work" / "shared" / "models",
        REPO.parent / "shared" / "models",
    ]
    assert load_registry() is default_registry()
    custom = tmp_path / "registry.yaml"
    custom.write_text("models:\n  - name: x\n    role: face_recognition\n")
    with pytest.raises(ModelRoleRefused):
        load_registry(custom)
    custom.write_text("models: [")
    with pytest.raises(RegistryInvalid, match="cannot be read"):
        load_registry(custom)


def test_stderr_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    bar = StderrProgress("model.onnx", width=10)
    bar(0, 2 << 20)
    bar(2 << 20, 2 << 20)
    err = capsys.readouterr().err
    assert "model.onnx [----------] 0.0/2.0 MiB" in err
    assert err.endswith("model.onnx [##########] 2.0/2.0 MiB\n")


def test_a_model_inside_a_python_package_is_found_there() -> None:
    spec = default_registry().get("ppocr_v6_det_small")
    assert spec.package == "rapidocr/models"
    assert spec.licence.startswith("Apache-2.0")
    path = resolve_model("ppocr_v6_det_small", models_dir=Path("/nonexistent"))
    assert path.parent.name == "models" and path.parent.parent.name == "rapidocr"
    assert path.name == spec.file


def test_the_agpl_plate_detector_says_so() -> None:
    spec = default_registry().get("safelicensing_yolov8n_plate_384")
    assert spec.licence.startswith("AGPL-3.0")
    assert "AGPL-3.0" in spec.notes
