"""The Home Assistant app (add-on) folder against the app configuration documentation.

The rules checked here are those of https://developers.home-assistant.io/docs/apps/configuration
(keys, their types and allowed values, the options schema grammar, translations): the Supervisor
itself cannot run on these machines. The app's runner is built and run in test_container.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import re
import subprocess
from types import ModuleType
from typing import Any

from PIL import Image
import pytest
import yaml

from vigil_core.server.main import LOG_LEVELS

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "addon" / "vigil"

REQUIRED = {"name": str, "version": str, "slug": str, "description": str, "arch": list}
OPTIONAL = {
    "url": str, "startup": str, "boot": str, "stage": str, "ports": dict,
    "ports_description": dict, "map": list, "discovery": list, "watchdog": str, "webui": str,
    "timeout": int, "backup_exclude": list, "options": dict, "schema": dict, "image": str,
    "init": bool, "host_network": bool, "hassio_api": bool, "homeassistant_api": bool,
    "environment": dict, "tmpfs": bool, "backup": str, "homeassistant": str, "services": list,
}  # fmt: skip
ARCHES = {"aarch64", "amd64"}
STARTUP = {"initialize", "system", "services", "application", "once"}
BOOT = {"auto", "manual", "manual_only"}
STAGES = {"stable", "experimental", "deprecated"}
MAP_TYPES = {
    "homeassistant_config", "app_config", "ssl", "local_apps", "backup", "share", "media",
    "all_app_configs", "data",
}  # fmt: skip
SCHEMA_ELEMENT = re.compile(
    r"^(?:bool|email|url|port|device(?:\(subsystem=[a-z]+\))?"
    r"|str(?:\(\d*,\d*\))?|password(?:\(\d*,\d*\))?"
    r"|int(?:\(-?\d*,-?\d*\))?|float(?:\([-\d.]*,[-\d.]*\))?"
    r"|match\(.*\)|list\((?P<list>.+)\))\??$"
)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """Return the app's config.yaml."""
    data = _yaml(APP / "config.yaml")
    assert isinstance(data, dict)
    return data


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vigil_addon_run", APP / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_has_the_documented_keys_and_types(config: dict[str, Any]) -> None:
    for key, kind in REQUIRED.items():
        assert isinstance(config.get(key), kind), key
    for key, value in config.items():
        assert key in REQUIRED or key in OPTIONAL, f"{key} is not a documented app key"
        assert isinstance(value, REQUIRED.get(key) or OPTIONAL[key]), key
    assert re.fullmatch(r"[-_.A-Za-z0-9]+", config["slug"])
    assert config["slug"] == APP.name
    assert set(config["arch"]) == ARCHES
    assert config["startup"] in STARTUP
    assert config["boot"] in BOOT
    assert config["stage"] in STAGES
    assert 10 <= config["timeout"] <= 300
    assert re.fullmatch(r"(?:https?|tcp)://\[HOST\]:(\[PORT:\d+\]|\d+).*", config["watchdog"])
    assert config["discovery"] == ["vigil"]  # the service the runner posts


def test_ports_and_maps_follow_the_documented_formats(config: dict[str, Any]) -> None:
    assert config["ports"] == {"8765/tcp": 8765}
    for port, host in config["ports"].items():
        assert re.fullmatch(r"\d+(?:/tcp|/udp)?", port)
        assert host is None or 1 <= host <= 65535
    assert f"[PORT:{next(iter(config['ports'])).split('/')[0]}]" in config["watchdog"]
    for entry in config["map"]:
        assert set(entry) <= {"type", "read_only", "path"}
        assert entry["type"] in MAP_TYPES
        assert entry.get("read_only", True) is True  # the app never writes outside /data


def test_every_option_has_a_schema_its_default_satisfies(config: dict[str, Any]) -> None:
    options, schema = config["options"], config["schema"]
    assert set(options) == set(schema)
    for key, element in schema.items():
        match = SCHEMA_ELEMENT.fullmatch(element)
        assert match, f"{key}: {element} is not a schema element"
        default = options[key]
        if match["list"]:
            assert default in match["list"].split("|")
        elif element.startswith("bool"):
            assert isinstance(default, bool)


def test_the_log_levels_are_the_servers(config: dict[str, Any]) -> None:
    listed = SCHEMA_ELEMENT.fullmatch(config["schema"]["log_level"])
    assert listed is not None
    assert listed["list"].split("|") == list(LOG_LEVELS)
    assert tuple(LOG_LEVELS) == _runner().LOG_LEVELS


@pytest.mark.parametrize("language", ["en", "fr"])
def test_translations_name_every_option_and_port(config: dict[str, Any], language: str) -> None:
    translation = _yaml(APP / "translations" / f"{language}.yaml")
    assert set(translation) <= {"configuration", "network"}
    assert set(translation["configuration"]) == set(config["schema"])
    for entry in translation["configuration"].values():
        assert isinstance(entry["name"], str)
        assert entry["name"]
        assert isinstance(entry.get("description"), str)
    assert set(translation["network"]) == set(config["ports"])


MQTT_OFF = {
    "mqtt_publish": False, "mqtt_host": "", "mqtt_port": None, "mqtt_username": "",
    "mqtt_password": "", "mqtt_tls": False, "mqtt_topic_prefix": "vigil",
}  # fmt: skip


def test_the_runner_reads_the_options_it_is_given(tmp_path: Path) -> None:
    runner = _runner()
    options = tmp_path / "options.json"
    defaults = {"log_level": "info", "download_models": True, **MQTT_OFF}
    assert runner.read_options(options) == defaults
    options.write_text(json.dumps({"log_level": "warning", "download_models": False}))
    assert runner.read_options(options) == {
        **defaults,
        "log_level": "warning",
        "download_models": False,
    }
    options.write_text(json.dumps({"log_level": "loud", "mqtt_port": 99999}))
    assert runner.read_options(options)["log_level"] == "info"
    assert runner.read_options(options)["mqtt_port"] is None
    options.write_text("{not json")
    assert runner.read_options(options) == defaults


def test_the_runner_hands_mqtt_settings_through_the_environment(config: dict[str, Any]) -> None:
    runner = _runner()
    assert set(MQTT_OFF) <= set(config["schema"])
    assert config["options"]["mqtt_publish"] is False  # off unless the user turns it on
    assert runner.mqtt_environment(MQTT_OFF, {"host": "core-mosquitto"}) == {}
    on = {**MQTT_OFF, "mqtt_publish": True}
    service = {"host": "core-mosquitto", "port": 1883, "ssl": False, "username": "addons",
               "password": "s3cret", "protocol": "3.1.1"}  # fmt: skip
    assert runner.mqtt_environment(on, service) == {
        "VIGIL_MQTT_HOST": "core-mosquitto", "VIGIL_MQTT_PORT": "1883",
        "VIGIL_MQTT_USERNAME": "addons", "VIGIL_MQTT_PASSWORD": "s3cret",
        "VIGIL_MQTT_TOPIC_PREFIX": "vigil",
    }  # fmt: skip
    own = {**on, "mqtt_host": "broker.lan", "mqtt_port": 8883, "mqtt_tls": True,
           "mqtt_topic_prefix": "home/vigil"}  # fmt: skip
    assert runner.mqtt_environment(own, service) == {
        "VIGIL_MQTT_HOST": "broker.lan", "VIGIL_MQTT_PORT": "8883", "VIGIL_MQTT_TLS": "true",
        "VIGIL_MQTT_TOPIC_PREFIX": "home/vigil",
    }  # fmt: skip
    assert runner.mqtt_environment(on, None) == {}


def test_the_image_is_the_projects_at_the_apps_version(config: dict[str, Any]) -> None:
    dockerfile = (APP / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG BUILD_VERSION={config['version']}\n" in dockerfile
    assert "ARG VIGIL_IMAGE=ghcr.io/vigil-project/vigil:${BUILD_VERSION}\n" in dockerfile
    assert 'io.hass.type="app"' in dockerfile


def test_the_icon_is_a_square_png() -> None:
    with Image.open(APP / "icon.png") as icon:
        assert icon.format == "PNG"
        assert icon.size == (128, 128)


def test_the_repository_is_an_app_repository_with_one_app() -> None:
    repository = _yaml(REPO / "repository.yaml")
    assert isinstance(repository["name"], str)
    assert repository["url"].startswith("https://")
    # The Supervisor searches the whole repository for app configurations by file name.
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if tracked.returncode != 0:
        pytest.skip("git is not available to list the repository's files")
    names = {"config.yaml", "config.yml", "config.json"}
    found = [p for p in tracked.stdout.splitlines() if Path(p).name in names]
    apps = [p for p in found if _looks_like_an_app(REPO / p)]
    assert apps == ["addon/vigil/config.yaml"]


def _looks_like_an_app(path: Path) -> bool:
    """Return whether the Supervisor would take this file for an app (others it logs, skips)."""
    data = _yaml(path) if path.suffix != ".json" else json.loads(path.read_text(encoding="utf-8"))
    return isinstance(data, dict) and set(REQUIRED) <= set(data)
