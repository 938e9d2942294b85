"""The committed JSON Schema of the config file matches the code."""

from __future__ import annotations

import json
from pathlib import Path

from vigil_core.config import EngineConfig

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "config.schema.json"


def test_committed_schema_is_current() -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert committed == EngineConfig.json_schema(), (
        "docs/config.schema.json is stale: run `vigil-analytics schema > docs/config.schema.json`"
    )
