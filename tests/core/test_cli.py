"""The `vigil-analytics` command: bad input gives one clear line, a non-zero exit, and spares "
"the rest."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.support.clips import make_clip
from tests.support.shared import MODELS_DIR, media
from vigil_core.config.file import load_raw_config
from vigil_core.errors import ConfigInvalid

ZONE = {"id": "all", "polygon": [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}


def vigil(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil_core.cli", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def write_config(folder: Path, cameras: list[dict[str, object]], **extra: object) -> Path:
    path = folder / "vigil.yaml"
    data = {"models_dir": str(MODELS_DIR), "cameras": cameras, **extra}
    path.write_text(yaml.safe_dump(data))
    return path


def assert_clean_stderr(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in lines:
        assert line.startswith("vigil-analytics:"), line
    return lines


@pytest.fixture
def short_vtest(tmp_path: Path) -> Path:
    """Return the first 6 s of vtest as H.264 (people walk into the frame)."""
    from tests.support.clips import ensure_h264_mp4  # noqa: PLC0415

    return ensure_h264_mp4(media("vtest.avi"), tmp_path, seconds=6)


def test_bad_cameras_fail_alone_and_the_good_one_runs(tmp_path: Path, short_vtest: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n" * 50)
    whole = make_clip(tmp_path, "whole.mp4", seconds=3)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    config = write_config(
        tmp_path,
        [
            {"id": "good", "source": str(short_vtest), "zones": [ZONE]},
            {"id": "missing", "source": str(tmp_path / "nowhere.mp4")},
            {"id": "notvideo", "source": str(not_video)},
            {"id": "truncated", "source": str(truncated)},
        ],
    )
    events_path = tmp_path / "events.jsonl"
    result = vigil("run", "--config", str(config), "--events", str(events_path))
    assert result.returncode == 1
    lines = assert_clean_stderr(result.stderr)
    assert any("missing" in line and "nowhere.mp4" in line for line in lines)
    assert any("notvideo" in line for line in lines)
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    good = [e for e in events if e["camera_id"] == "good" and e["type"] == "rule"]
    assert good, "the good camera kept running and produced zone events"
    assert all(e["attrs"]["label"] == "person" for e in good)
    states = {(e["camera_id"], e["state"]) for e in events if e["type"] == "source_state"}
    assert ("good", "ended") in states
    assert ("truncated", "ended") in states or any("truncated" in line for line in lines)


@pytest.mark.parametrize(
    ("camera", "extra", "fragment"),
    [
        (
            {
                "id": "c",
                "source": "x.mp4",
                "zones": [{"id": "z", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}],
            },
            {},
            "polygon edges cross",
        ),
        (
            {"id": "c", "source": "x.mp4"},
            {"detector": {"model": "face_recogniser"}},
            "face_recogniser",
        ),
        ({"id": "c", "source": "x.mp4", "fps": 0}, {}, "cameras.0.fps"),
    ],
)
def test_invalid_config_is_one_line_and_exit_2(
    tmp_path: Path, camera: dict[str, object], extra: dict[str, object], fragment: str
) -> None:
    config = write_config(tmp_path, [camera], **extra)
    result = vigil("run", "--config", str(config))
    assert result.returncode == 2, result.stderr
    lines = assert_clean_stderr(result.stderr)
    assert len(lines) == 1
    assert fragment in lines[0]


def test_every_config_error_is_said_at_once(tmp_path: Path) -> None:
    """Several mistakes: one line each, not the first and "(and 2 more)"."""
    camera = {
        "id": "Not A Slug",
        "source": "x.mp4",
        "fps": 0,
        "zones": [{"id": "z", "polygon": [[0.1, 0.1], [0.5, 0.5]]}],
    }
    result = vigil("run", "--config", str(write_config(tmp_path, [camera])))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == "vigil-analytics: error: invalid config, 3 errors:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "cameras.0.id",
        "cameras.0.fps",
        "cameras.0.zones.0.polygon",
    ]


def test_wrong_hash_model_names_the_file(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "yolox_nano.onnx").write_bytes(os.urandom(4096))
    config = tmp_path / "vigil.yaml"
    config.write_text(
        yaml.safe_dump({"models_dir": str(models), "cameras": [{"id": "c", "source": "x.mp4"}]})
    )
    result = vigil("run", "--config", str(config))
    assert result.returncode != 0
    lines = assert_clean_stderr(result.stderr)
    assert len(lines) == 1
    assert "yolox_nano" in lines[0]
    assert "sha256" in lines[0].lower()


def test_missing_config_and_bad_yaml(tmp_path: Path) -> None:
    result = vigil("run", "--config", str(tmp_path / "none.yaml"))
    assert result.returncode != 0
    assert len(assert_clean_stderr(result.stderr)) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [\n  - id: x\n  source: {")
    result = vigil("run", "--config", str(bad))
    assert result.returncode != 0
    lines = assert_clean_stderr(result.stderr)
    assert len(lines) == 1
    assert "line" in lines[0]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "cameras:\n  - id: a\n    source: x.mp4\n    zones: [\n      {id: z}\n",
            "line 6 is not valid YAML: expected ',' or ']', but got '<stream end>' (while "
            "parsing a flow sequence that begins on line 4)",
        ),
        (
            "cameras:\n\t- id: a\n",
            "line 2 is not valid YAML: found character '\\t' that cannot start any token; "
            "YAML indents with spaces, not tabs",
        ),
    ],
    ids=["unclosed_bracket", "tab"],
)
def test_a_yaml_error_says_why_and_where_it_began(tmp_path: Path, text: str, said: str) -> None:
    """The parser's reason, and for an unclosed bracket the line it was opened on."""
    config = tmp_path / "vigil.yaml"
    config.write_text(text)
    with pytest.raises(ConfigInvalid) as caught:
        load_raw_config(config)
    assert str(caught.value) == f"config file {config} {said}"


def test_unreachable_stream_is_reported_and_ctrl_c_stops_cleanly(
    tmp_path: Path, socket_enabled: None
) -> None:
    if not MODELS_DIR.is_dir():
        pytest.skip("shared models are not on this machine (the engine loads its detector first)")
    config = write_config(
        tmp_path,
        [
            {
                "id": "down",
                "source": {
                    "url": "rtsp://127.0.0.1:9/none",
                    "open_timeout_s": 1,
                    "backoff_initial_s": 0.2,
                },
            }
        ],
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil_core.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    states = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        states.append(event["state"])
        if states.count("offline") >= 2:
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert "offline" in states and "connecting" in states
    assert proc.returncode == 0
    lines = assert_clean_stderr(stderr)
    assert any("down" in line for line in lines)


def test_schema_and_models_commands() -> None:
    schema = vigil("schema")
    assert schema.returncode == 0
    assert "cameras" in json.loads(schema.stdout)["properties"]
    listing = vigil("models", "list")
    assert listing.returncode == 0
    assert "yolox_nano" in listing.stdout


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Run the command in this process (configs that fail before any camera starts)."""
    from vigil_core.cli import main  # noqa: PLC0415

    code = main(list(args))
    return code, assert_clean_stderr(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"cameras:\n  - id: caf\xe9\n", "UTF-8"),
        (b"\xff\xfe\x00\x00", "UTF-8"),
        (("a: " + "[" * 5000 + "]" * 5000).encode(), "nested too deep"),
        (("a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000))).encode(), ""),
        (("x: " + "{a: " * 5000 + "1" + "}" * 5000).encode(), "nested too deep"),
    ],
)
def test_unreadable_config_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_bytes(content)
    code, lines = run_in_process(capsys, "run", "--config", str(path))
    assert code == 2
    assert len(lines) == 1
    assert fragment in lines[0]


def test_a_directory_as_config_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run_in_process(capsys, "run", "--config", str(tmp_path))
    assert code == 2
    assert lines == [f"vigil-analytics: error: config file {tmp_path} is a folder, not a file"]


@pytest.mark.parametrize("source", ["", "  ", {"url": ""}])
def test_an_empty_source_is_refused_as_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: object
) -> None:
    config = write_config(tmp_path, [{"id": "c", "source": source}])
    code, lines = run_in_process(capsys, "run", "--config", str(config))
    assert code == 2
    assert len(lines) == 1
    assert "cameras.0.source" in lines[0]
    assert "empty" in lines[0]


def test_the_tools_commands_say_where_they_come_from_when_the_tools_are_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server installed without vigil-tools (the image) explains `demo` and `bench`."""
    from vigil_core import cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["demo"]) == cli.EXIT_FAILED
    assert cli.main(["bench", "tamper", "--quick"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("pip install vigil-tools") == 2


def test_the_tools_add_demo_and_bench_through_their_entry_point() -> None:
    from vigil_core import cli  # noqa: PLC0415

    parser = cli._parser()
    args = parser.parse_args(["bench", "anpr", "photos", "--json"])
    assert args.handler.__module__ == "vigil_tools.cli"
    assert args.sections == ["anpr", "photos"]
    assert parser.parse_args(["demo", "--no-download"]).handler.__module__ == "vigil_tools.cli"
