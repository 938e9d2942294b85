"""Home Assistant readiness: every entity and action has an icon; no deprecated or removed name.

The list of deprecated and removed names below was compiled by reading Home Assistant's source
(homeassistant 2026.2.3 from PyPI, the newest these machines can download: helpers/service.py,
helpers/device_registry.py, helpers/entity_platform.py, helpers/target.py) and its developer
blog for 2026.7-2026.10 (device registry: one config entry and at most one subentry per device,
`via_device` deprecated, DeviceEntry.config_entries deprecated). A name may appear in the
integration only in a feature-detected branch that older releases take, and then only in the
module named for it here, with a comment saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib
import json
from pathlib import Path
import pkgutil
import re
from typing import Any

import pytest
import yaml

import custom_components.vigil as vigil
from tests.ha.translations import load

INTEGRATION = Path(vigil.__file__).parent
PLATFORMS = {
    "BinarySensorEntityDescription": "binary_sensor",
    "SensorEntityDescription": "sensor",
    "EventEntityDescription": "event",
    "ImageEntityDescription": "image",
    "ButtonEntityDescription": "button",
}
"""Descriptions by class name: Home Assistant builds its description classes at import time
(util/frozen_dataclass_compat.py), so `isinstance` on them does not hold across modules."""

# (pattern, why, modules allowed to use it in a version-detected fallback)
DEPRECATED: tuple[tuple[str, str, frozenset[str]], ...] = (
    (
        r"async_extract_entity_ids\(\s*hass",
        "the hass argument is deprecated in 2025.10 and removed in 2026.10",
        frozenset(),
    ),
    (
        r"async_extract_config_entry_ids\(\s*hass",
        "the hass argument is deprecated in 2025.10 and removed in 2026.10",
        frozenset(),
    ),
    (
        r"verify_domain_control\(\s*hass",
        "the hass argument is deprecated in 2025.10 and removed in 2026.10",
        frozenset(),
    ),
    (
        r"service\.async_extract_referenced_entity_ids",
        "deprecated for helpers.target's (breaks in 2026.8): only where helpers.target is missing",
        frozenset({"tamper.py"}),
    ),
    (
        r"\bvia_device\s*=|[\"']via_device[\"']",
        "DeviceInfo(via_device=...) is deprecated in 2026.8 and breaks in 2027.8: via_device_id",
        frozenset(),
    ),
    (
        r"\.config_entries_subentries\b|\.primary_config_entry\b|device\.config_entries\b",
        "DeviceEntry's multi-entry properties are deprecated in 2026.8 (removed in 2027.10)",
        frozenset(),
    ),
    (
        r"\bdefault_(manufacturer|model|name)\b",
        "DeviceInfo default_* keys are deprecated in 2026.8",
        frozenset(),
    ),
    (
        r"add_config_entry_id|add_config_subentry_id",
        "adding a config entry or subentry to a device: a device has one owner from 2026.8",
        frozenset(),
    ),
    (
        r"\bAddEntitiesCallback\b",
        "config entries' platforms take AddConfigEntryEntitiesCallback (2025.2)",
        frozenset(),
    ),
    (
        r"async_forward_entry_setup\(",
        "removed in 2025.6: async_forward_entry_setups",
        frozenset(),
    ),
    (
        r"hass\.helpers\.|hass\.components\.",
        "removed in 2024.9",
        frozenset(),
    ),
    (
        r"async_register_entity_service\(",
        "integrations register entity actions with async_register_platform_entity_service",
        frozenset({"entity_actions.py"}),
    ),
    (
        r"requires_auth\s*=\s*False",
        "an unauthenticated view: sign the path with async_sign_path instead",
        frozenset(),
    ),
)


def _platform(value: Any) -> str | None:
    return next(
        (PLATFORMS[c.__name__] for c in type(value).__mro__ if c.__name__ in PLATFORMS), None
    )


def _descriptions(value: Any) -> Iterator[tuple[str, Any]]:
    if (platform := _platform(value)) is not None:
        yield platform, value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _descriptions(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _descriptions(item)


def _all_descriptions() -> list[tuple[str, Any]]:
    """Return every entity description a module of the integration defines, with its platform."""
    found: dict[int, tuple[str, Any]] = {}
    for module_info in pkgutil.iter_modules(vigil.__path__):
        module = importlib.import_module(f"custom_components.vigil.{module_info.name}")
        for value in vars(module).values():
            for platform, description in _descriptions(value):
                found[id(description)] = (platform, description)
    return list(found.values())


def test_every_entity_has_a_name_and_an_icon() -> None:
    """Each description's translation key has strings and an icon; each string key an icon."""
    icons = json.loads((INTEGRATION / "icons.json").read_text())["entity"]
    descriptions = _all_descriptions()
    assert len(descriptions) >= 50, "the descriptions were not found"
    strings = load("en")["entity"]
    missing = [
        (platform, d.translation_key)
        for platform, d in descriptions
        if d.translation_key not in strings.get(platform, {})
        or d.translation_key not in icons.get(platform, {})
    ]
    assert not missing, missing
    unused_or_missing = [
        (platform, key)
        for platform, keys in strings.items()
        for key in keys
        if key not in icons.get(platform, {})
    ]
    assert not unused_or_missing, unused_or_missing
    for platform, keys in icons.items():
        for key, icon in keys.items():
            assert icon.get("default", "").startswith("mdi:"), (platform, key)


def test_every_action_has_an_icon() -> None:
    """Each action in services.yaml has an icon, and icons.json names no other action."""
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    icons = json.loads((INTEGRATION / "icons.json").read_text())["services"]
    assert set(icons) == set(services)
    for name, icon in icons.items():
        service_icon = icon if isinstance(icon, str) else icon.get("service", "")
        assert service_icon.startswith("mdi:"), name


@pytest.mark.parametrize(("pattern", "why", "allowed"), DEPRECATED, ids=lambda p: str(p)[:40])
def test_no_deprecated_home_assistant_name(pattern: str, why: str, allowed: frozenset[str]) -> None:
    """The integration uses no name Home Assistant deprecated or removed (see the list)."""
    used = [
        f"{path.name}:{number}"
        for path in sorted(INTEGRATION.glob("*.py"))
        if path.name not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(pattern, line) and not line.lstrip().startswith("#")
    ]
    assert not used, f"{why}: {used}"


SHIMMED_VOLUPTUOUS = frozenset(
    {"All", "Coerce", "In", "Invalid", "Length", "Marker", "Optional", "Required", "Schema"}
    | {"Strip"}
)
"""The voluptuous names the integration uses, all public ones probatio's shim keeps.

Since Home Assistant 2026.9 `import voluptuous` is probatio (`install_as_voluptuous()` in
homeassistant/__init__.py) and `import httpx` is httpx2. The shim promises voluptuous 0.16's
public names, not its submodules or the text of its errors: the one place that sends an
error's text on is editor.py's `_send_error`, said there."""


def test_voluptuous_only_through_what_the_shim_keeps() -> None:
    """`import voluptuous as vol` and public names only; no submodule, no httpx, no error text."""
    used: set[str] = set()
    for path in sorted(INTEGRATION.glob("*.py")):
        source = path.read_text()
        assert not re.search(r"^\s*(from voluptuous|import voluptuous\.)", source, re.M), path.name
        assert not re.search(r"^\s*(from|import) httpx", source, re.M), path.name
        used |= set(re.findall(r"\bvol\.(\w+)", source))
        if path.name != "editor.py":
            assert not re.search(r"except vol\.Invalid as (\w+)[^\n]*\n[^\n]*str\(\1\)", source)
    assert used <= SHIMMED_VOLUPTUOUS, used - SHIMMED_VOLUPTUOUS
