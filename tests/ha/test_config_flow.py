"""The server entry's flows against a real Vigil server: setup, reauth, reconfigure, options.

test_server_entry.py walks the main paths (add by address and token, zeroconf, reauth); this
file covers the rest: every error and abort, the context change written to the server's access
log, and the options. A server of another protocol major is a small WebSocket peer that says
hello with that version (no Vigil server can be made to speak another version).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import ipaddress
from typing import Any

from aiohttp import web
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_SSL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.config_flow import VigilConfigFlow
from custom_components.vigil.const import (
    CONF_ANALYSIS_FPS,
    CONF_CHANGE_REASON,
    CONF_CONFIDENCE,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_MOTION_GATING,
    CONF_RETENTION,
    CONF_SERVER_ID,
    CONF_TOKEN,
    DOMAIN,
)
from tests.ha.conftest import ServerFactory, camera_subentry, wait_until, zone_subentry
from tests.ha.flows import loaded
from vigil_core.server import VigilServer
import vigil_protocol as vp


def _form(server: VigilServer, token: str | None = None) -> dict[str, Any]:
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: server.port,
        CONF_TOKEN: token if token is not None else server.token,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
    }


async def _configure(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.flow.async_configure(flow_id, data)
    return result


async def _log(hass: HomeAssistant, server: VigilServer) -> list[dict[str, Any]]:
    assert server.access_log is not None
    entries: list[dict[str, Any]] = await hass.async_add_executor_job(server.access_log.entries)
    return entries


@pytest.fixture
async def other_major(socket_enabled: None) -> AsyncIterator[int]:
    """Serve a WebSocket peer that introduces itself with protocol 99.0; return its port."""

    async def hello(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        greeting = vp.Hello(
            server_id="future", server_name="future", server_version="9", protocol_version="99.0"
        )
        await ws.send_str(vp.dumps(greeting))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get(vp.WS_PATH, hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()


async def test_user_errors_then_the_server_once(
    hass: HomeAssistant, vigil_server: VigilServer, other_major: int
) -> None:
    """Each refusal is a form error; a server already added is not added twice."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    flow_id = result["flow_id"]
    result = await _configure(hass, flow_id, {**_form(vigil_server), CONF_PORT: other_major})
    assert result["errors"] == {"base": "protocol_version"}
    result = await _configure(hass, flow_id, _form(vigil_server, token="wrong"))
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}
    result = await _configure(hass, flow_id, {**_form(vigil_server), CONF_HOST: " 127.0.0.1 "})
    assert result["step_id"] == "context"
    result = await _configure(hass, flow_id, {CONF_DEPLOYMENT_CONTEXT: "private_home"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == "127.0.0.1"
    await hass.async_block_till_done()

    again = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    again = await _configure(hass, again["flow_id"], _form(vigil_server))
    assert (again["type"], again["reason"]) == (FlowResultType.ABORT, "already_configured")


async def test_the_context_is_kept_even_when_it_cannot_be_logged(
    hass: HomeAssistant, vigil_server: VigilServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The server gone before the context step: the entry is made, the log line is missed."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await _configure(hass, result["flow_id"], _form(vigil_server))
    await vigil_server.stop()
    result = await _configure(hass, result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "public_space"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "could not be written to the access log" in caplog.text
    await hass.async_block_till_done()


async def test_zeroconf_errors_and_not_a_vigil_server(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    """An announcement without an id is not Vigil's; a wrong token is a form error."""
    info = ZeroconfServiceInfo(
        ip_address=ipaddress.ip_address("127.0.0.1"),
        ip_addresses=[ipaddress.ip_address("127.0.0.1")],
        port=vigil_server.port,
        hostname="vigil.local.",
        type="_vigil._tcp.local.",
        name="Vigil test server._vigil._tcp.local.",
        properties={"version": "0.2.0"},
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_vigil")

    info.properties["id"] = vigil_server.server_id
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["description_placeholders"] == {"address": f"127.0.0.1:{vigil_server.port}"}
    result = await _configure(
        hass, result["flow_id"], {CONF_TOKEN: "wrong", CONF_SSL: False, CONF_VERIFY_SSL: True}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}


async def test_reauth_errors_and_another_server(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    start_server: ServerFactory,
) -> None:
    """A wrong token is a form error; a token of another server at the address is refused."""
    await loaded(hass, config_entry)
    result = await config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["server"] == "Vigil test server"
    result = await _configure(hass, result["flow_id"], {CONF_TOKEN: "wrong"})
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}

    # Another server answers at the saved address now (the machine was replaced).
    port = vigil_server.port
    await vigil_server.stop()
    other = await start_server(port=port)
    result = await _configure(hass, result["flow_id"], {CONF_TOKEN: other.token})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "wrong_server")


async def test_reconfigure_errors_then_a_new_context_logged(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """A context change needs a reason and is written to the access log; errors first."""
    await loaded(hass, config_entry)
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    flow_id = result["flow_id"]
    form = _form(vigil_server)
    result = await _configure(hass, flow_id, {**form, CONF_DEPLOYMENT_CONTEXT: "public_space"})
    assert result["errors"] == {CONF_CHANGE_REASON: "reason_required"}
    result = await _configure(
        hass,
        flow_id,
        {**form, CONF_PORT: 9, CONF_DEPLOYMENT_CONTEXT: "private_home"},
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _configure(
        hass,
        flow_id,
        {**form, CONF_DEPLOYMENT_CONTEXT: "public_space", CONF_CHANGE_REASON: "town hall square"},
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await hass.async_block_till_done()
    assert config_entry.data[CONF_DEPLOYMENT_CONTEXT] == "public_space"
    changes = [e for e in await _log(hass, vigil_server) if e["action"] == "context_change"]
    assert changes[-1]["reason"] == "town hall square"
    assert changes[-1]["details"] == {"from": "private_home", "to": "public_space"}


async def test_reconfigure_to_another_server_is_refused(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    start_server: ServerFactory,
) -> None:
    """Pointing an entry at another server would lose its cameras' ids: refused."""
    await loaded(hass, config_entry)
    other = await start_server()
    result = await config_entry.start_reconfigure_flow(hass)
    result = await _configure(
        hass, result["flow_id"], {**_form(other), CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert result["errors"] == {"base": "wrong_server"}
    # The same server at the same place, same context: saved, nothing logged.
    result = await _configure(
        hass, result["flow_id"], {**_form(vigil_server), CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert config_entry.data[CONF_SERVER_ID] == vigil_server.server_id


async def test_options_retention_and_controller(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Options change the analysis; a retention change is logged with its reason."""
    await loaded(hass, config_entry)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "init")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_ANALYSIS_FPS: 2.5,
            CONF_CONFIDENCE: 0.4,
            CONF_MOTION_GATING: False,
            CONF_RETENTION: {"snapshots": 3, CONF_CHANGE_REASON: "less is enough"},
            CONF_CONTROLLER: {"name": " Town hall ", "contact": "dpo@example.org"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await wait_until(
        hass,
        lambda: (
            vigil_server.engine is not None and vigil_server.engine.config.cameras[0].fps == 2.5
        ),
        "the new rate",
    )
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.detector.confidence == 0.4
    assert config_entry.options[CONF_RETENTION]["snapshots"] == 3
    assert config_entry.options[CONF_CONTROLLER]["name"] == "Town hall"
    changes = [e for e in await _log(hass, vigil_server) if e["action"] == "retention_change"]
    assert changes[-1]["reason"] == "less is enough"
    assert changes[-1]["details"] == {"snapshots": [7, 3]}


async def test_reconfigure_an_entry_without_a_context(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """An entry whose context was never declared: declaring one is a change, with a reason."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_DEPLOYMENT_CONTEXT: ""}
    )
    await loaded(hass, config_entry)
    result = await config_entry.start_reconfigure_flow(hass)
    result = await _configure(
        hass, result["flow_id"], {**_form(vigil_server), CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert result["errors"] == {CONF_CHANGE_REASON: "reason_required"}


async def test_options_of_an_entry_whose_server_is_away(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Options are saved while the server is away; the retention change is not logged then."""
    await vigil_server.stop()
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_RETENTION: {"snapshots": "a week", "events": 9999}}
    )
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    # Damaged saved values show as the defaults and the bounds allow.
    retention = next(
        value for key, value in result["data_schema"].schema.items() if key == CONF_RETENTION
    )
    shown = {
        str(k): k.description["suggested_value"] for k in retention.schema.schema if k.description
    }
    assert (shown["snapshots"], shown["events"]) == (7, 365)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_ANALYSIS_FPS: 5,
            CONF_CONFIDENCE: 0.25,
            CONF_MOTION_GATING: True,
            CONF_RETENTION: {"snapshots": 3},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "retention_change not logged" in caplog.text


def test_every_subentry_type_has_its_flow() -> None:
    """Cameras, zones, rules, camera settings, watched plates and plate reading."""
    types = VigilConfigFlow.async_get_supported_subentry_types(MockConfigEntry(domain=DOMAIN))
    assert sorted(types) == sorted(
        ["camera", "zone", "rule", "camera_setting", "watchlist_entry", "plate_reading"]
    )


async def test_a_version_1_entry_becomes_a_server_entry_keeping_its_cameras(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """The engine left Home Assistant: a version 1 entry keeps its subentries and is pointed
    at a server through reconfigure, guided by a repair issue."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        version=1,
        data={
            CONF_DEPLOYMENT_CONTEXT: "private_home",
            "download_models": True,
            "models_dir": "/config/models",
        },
        options={CONF_ANALYSIS_FPS: 3.0},
        subentries_data=[camera_subentry(pattern_stream), zone_subentry()],
    )
    entry.add_to_hass(hass)
    # No server at 127.0.0.1:8765 with an empty token: the entry waits for one.
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.version == 2
    assert "models_dir" not in entry.data
    assert "download_models" not in entry.data
    assert entry.data[CONF_DEPLOYMENT_CONTEXT] == "private_home"
    assert entry.data[CONF_TOKEN] == ""
    assert entry.options == {CONF_ANALYSIS_FPS: 3.0}
    assert len(entry.subentries) == 2
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"moved_to_server_{entry.entry_id}") is not None

    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(
        hass, result["flow_id"], {**_form(vigil_server), CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await hass.async_block_till_done()
    await wait_until(hass, lambda: entry.state is ConfigEntryState.LOADED, "the entry loaded")
    assert entry.unique_id == vigil_server.server_id
    assert entry.data[CONF_SERVER_ID] == vigil_server.server_id
    assert issues.async_get_issue(DOMAIN, f"moved_to_server_{entry.entry_id}") is None
    await wait_until(
        hass,
        lambda: hass.states.get("binary_sensor.front_door_driveway_occupied") is not None,
        "the zone's entity back",
    )


async def test_an_entry_from_a_newer_vigil_is_left_alone(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Vigil", version=3, data={"future": 1})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == {"future": 1}
