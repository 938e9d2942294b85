"""Check that every flow step, error, menu option and abort reached has an English string."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant import data_entry_flow
from homeassistant.config_entries import ConfigFlow, ConfigSubentryFlow, OptionsFlow

TRANSLATIONS = Path(__file__).resolve().parents[2] / "custom_components" / "vigil" / "translations"


@cache
def load(language: str = "en") -> dict[str, Any]:
    """Return a translation file of the integration."""
    data: dict[str, Any] = json.loads((TRANSLATIONS / f"{language}.json").read_text())
    return data


def flat_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    """Return every leaf key as a dotted path."""
    keys: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        keys |= flat_keys(value, f"{path}.") if isinstance(value, dict) else {path}
    return keys


def _section(flow: data_entry_flow.FlowHandler[Any, Any, Any]) -> dict[str, Any] | None:
    strings = load()
    if isinstance(flow, ConfigFlow) and flow.handler == "vigil":
        return strings["config"]
    if isinstance(flow, OptionsFlow) and type(flow).__module__.startswith(
        "custom_components.vigil"
    ):
        return strings["options"]
    if isinstance(flow, ConfigSubentryFlow) and type(flow).__module__.startswith(
        "custom_components.vigil"
    ):
        return strings["config_subentries"][flow.handler[1]]
    return None


def check_result(flow: data_entry_flow.FlowHandler[Any, Any, Any], result: Any) -> None:
    """Assert the strings a flow result needs exist."""
    section = _section(flow)
    if section is None:
        return
    kind = result["type"]
    if kind in (data_entry_flow.FlowResultType.FORM, data_entry_flow.FlowResultType.MENU):
        step = section["step"].get(result["step_id"])
        assert step is not None, f"no translation for step {result['step_id']}"
        for error in (result.get("errors") or {}).values():
            assert error in section.get("error", {}), f"no translation for error {error}"
        if kind == data_entry_flow.FlowResultType.MENU:
            for option in result["menu_options"]:
                assert option in step["menu_options"], f"no translation for menu option {option}"
    elif kind == data_entry_flow.FlowResultType.ABORT:
        assert result["reason"] in section.get("abort", {}), (
            f"no translation for {result['reason']}"
        )


@contextmanager
def check_flow_translations() -> Iterator[None]:
    """Check the translations of every flow result while the block runs."""
    original = data_entry_flow.FlowManager._async_handle_step

    async def checked(self: Any, flow: Any, step_id: str, user_input: Any) -> Any:
        result = await original(self, flow, step_id, user_input)
        check_result(flow, result)
        return result

    with patch.object(data_entry_flow.FlowManager, "_async_handle_step", checked):
        yield
