"""scripts/bench-ha: the config entry it stores is one Home Assistant reads and Vigil sets up.

The bench starts a real Home Assistant on a `.storage/core.config_entries` it writes itself;
this reads that same document the way Home Assistant does at start (ConfigEntries on its
storage), sets the entry up against a real server and real streams, and checks that the
cameras, zones and lines reach the server and that the entities the bench waits for and
measures (by unique id) exist and become available.
"""

from __future__ import annotations

from importlib.machinery import SourceFileLoader
import importlib.util
from pathlib import Path
import sys
from types import ModuleType
from typing import Any

from homeassistant.config_entries import ConfigEntries, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.vigil.const import DOMAIN
from tests.ha.conftest import wait_until
from vigil_core.server import VigilServer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench-ha"


def load_bench() -> ModuleType:
    """Import the script (it has no .py suffix) as a module."""
    if "bench_ha" in sys.modules:
        return sys.modules["bench_ha"]
    loader = SourceFileLoader("bench_ha", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bench_ha", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ha"] = module  # its dataclasses look their module up
    loader.exec_module(module)
    return module


async def test_stored_server_entry_loads_with_what_the_bench_measures(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    vigil_server: VigilServer,
    pattern_stream: str,
) -> None:
    bench = load_bench()
    layout = bench.Layout(
        (pattern_stream, pattern_stream), lines=True, server_id=vigil_server.server_id
    )
    stored = bench.after_entry(
        layout, port=vigil_server.port, token=vigil_server.token, server_id=vigil_server.server_id
    )
    hass_storage["core.config_entries"] = bench.config_entries_document([stored])

    manager = ConfigEntries(hass, {})
    await manager.async_initialize()
    hass.config_entries = manager
    (entry,) = manager.async_entries(DOMAIN)
    assert entry.version == 2
    assert await manager.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    assert vigil_server.engine is not None
    cameras = vigil_server.engine.config.cameras
    assert [c.id for c in cameras] == [bench.slug(c) for c in layout.cameras]
    for camera, zone, line in zip(cameras, layout.zones, layout.line_rules, strict=True):
        assert [z.id for z in camera.zones] == [bench.slug(zone)]
        assert [(r.id, r.type) for r in camera.rules] == [(bench.slug(line), "line_crossing")]
        assert camera.fps == bench.FPS

    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, entry.entry_id)
    by_unique_id = {e.unique_id: e.entity_id for e in entities}
    zone_keys = ("presence", "occupied", "count_person")
    measured = [layout.zone_uid(i, key) for i in range(2) for key in zone_keys]
    measured += [layout.camera_uid(i, "analysed_fps") for i in range(2)]
    assert set(measured) <= set(by_unique_id)
    assert layout.rule_of_uid() == {
        layout.zone_uid(i, "presence"): bench.slug(zone) for i, zone in enumerate(layout.zones)
    }

    def available() -> bool:
        states = [hass.states.get(by_unique_id[uid]) for uid in measured]
        return all(s is not None and s.state != STATE_UNAVAILABLE for s in states)

    await wait_until(hass, available, "the measured entities available")
