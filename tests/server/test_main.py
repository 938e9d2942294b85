"""`vigil-analytics serve` options that containers and the add-on set through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil_core.cli import _parser, main


def test_the_log_level_comes_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _parser().parse_args(["serve"]).log_level == "info"
    assert _parser().parse_args(["serve", "--log-level", "warning"]).log_level == "warning"
    monkeypatch.setenv("VIGIL_LOG_LEVEL", "ERROR")
    assert _parser().parse_args(["serve"]).log_level == "error"
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--log-level", "loud"])


def test_a_bad_log_level_in_the_environment_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIL_LOG_LEVEL", "loud")
    assert main(["serve", "--data", str(tmp_path), "--no-zeroconf"]) == 2
    assert "log level 'loud' is not one of debug, info, warning, error" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_inference_server_comes_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 19: a server of a compose file owns its inference server (no client sets one)."""
    from vigil_core.server.main import kserve_settings  # noqa: PLC0415

    assert kserve_settings(_parser().parse_args(["serve"])) is None
    args = _parser().parse_args(["serve", "--kserve-url", "http://triton:8000"])
    assert kserve_settings(args) == {"url": "http://triton:8000"}
    monkeypatch.setenv("VIGIL_KSERVE_URL", "http://gpu-box:8000")
    monkeypatch.setenv("VIGIL_KSERVE_MODEL", "yolox_nano_dynamic")
    assert kserve_settings(_parser().parse_args(["serve"])) == {
        "url": "http://gpu-box:8000",
        "model": "yolox_nano_dynamic",
    }
