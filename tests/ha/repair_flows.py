"""Check the strings a repair issue's fix flow shows (HA reads them from the issue's key)."""

from __future__ import annotations

from typing import Any

from homeassistant.data_entry_flow import FlowResultType

from tests.ha.translations import load


def check_fix_flow_strings(issue_key: str, result: dict[str, Any]) -> None:
    """Assert the English and French strings of a fix flow's result exist."""
    for language in ("en", "fr"):
        fix_flow = load(language)["issues"][issue_key]["fix_flow"]
        if result["type"] is FlowResultType.FORM:
            step = fix_flow["step"][result["step_id"]]
            assert step["title"] and step["description"]
            for field in result["data_schema"].schema:
                assert str(field) in step["data"], field
            for error in (result.get("errors") or {}).values():
                assert error in fix_flow["error"], error
        elif result["type"] is FlowResultType.ABORT:
            assert result["reason"] in fix_flow["abort"], result["reason"]
