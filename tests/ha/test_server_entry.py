"""A Vigil server as a Home Assistant config entry: setup, entities, outages and reconnection."""

from __future__ import annotations

from homeassistant.config_entries import (
    SOURCE_HASSIO,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_DEPLOYMENT_CONTEXT,
    CONF_SERVER_ID,
    CONF_TOKEN,
    DOMAIN,
)
from tests.ha.conftest import (
    ENTRY_ID,
    ZONE_SLUG,
    ServerFactory,
    camera_uid_of,
    rule_event,
    rule_state,
    setup_entry,
    stream_state,
    wait_until,
)
from vigil_core.events.model import EventPhase, SourceState
from vigil_core.server import VigilServer
import vigil_protocol as vp

OCCUPIED = "binary_sensor.front_door_driveway_occupied"
PEOPLE = "sensor.front_door_driveway_people"
CARS = "sensor.front_door_driveway_cars"
ACTIVITY = "event.front_door_driveway_activity"
PROBLEM = "binary_sensor.front_door_stream_problem"
FPS = "sensor.front_door_analysed_rate"


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state is not None else None


async def test_a_server_is_added_by_address_and_token(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    form = {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: vigil_server.port,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form | {CONF_TOKEN: "not-the-token"}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form | {CONF_TOKEN: vigil_server.token}
    )
    assert result["step_id"] == "context"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Vigil test server"
    assert result["result"].unique_id == vigil_server.server_id
    assert result["data"][CONF_SERVER_ID] == vigil_server.server_id
    assert result["data"][CONF_DEPLOYMENT_CONTEXT] == "private_premises"
    # The choice of context is in the server's access log.
    assert vigil_server.access_log is not None
    actions = [
        e["action"] for e in await hass.async_add_executor_job(vigil_server.access_log.entries)
    ]
    assert "context_change" in actions


async def test_an_unreachable_server_is_a_form_error(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: 9,
            CONF_TOKEN: "t",
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        },
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_a_discovered_server_asks_only_its_token(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    info = ZeroconfServiceInfo(
        ip_address=__import__("ipaddress").ip_address("127.0.0.1"),
        ip_addresses=[__import__("ipaddress").ip_address("127.0.0.1")],
        port=vigil_server.port,
        hostname="vigil.local.",
        type="_vigil._tcp.local.",
        name="Vigil test server abcdef._vigil._tcp.local.",
        properties={
            "id": vigil_server.server_id,
            "version": "0.2.0",
            "protocol": "1.0",
            "tls": "0",
        },
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["step_id"] == "zeroconf_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: vigil_server.token, CONF_SSL: False, CONF_VERIFY_SSL: True}
    )
    assert result["step_id"] == "context"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # Announced again (a new address): no second entry, the address is updated.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"


async def test_the_vigil_app_is_offered_through_the_supervisor_without_typing(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    def info(token: str) -> HassioServiceInfo:
        config = {
            "host": "127.0.0.1",
            "port": vigil_server.port,
            "token": token,
            "server_id": vigil_server.server_id,
        }
        return HassioServiceInfo(config=config, name="Vigil", slug="vigil", uuid="1234")

    # A discovery without the server's id or token is not Vigil's.
    refused = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info("")
    )
    assert refused["type"] is FlowResultType.ABORT
    assert refused["reason"] == "not_vigil"
    # A stale token from the Supervisor is refused by the server at confirmation.
    stale = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info("stale")
    )
    assert stale["step_id"] == "hassio_confirm"
    stale = await hass.config_entries.flow.async_configure(stale["flow_id"], {})
    assert stale["errors"] == {"base": "invalid_auth"}
    hass.config_entries.flow.async_abort(stale["flow_id"])

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info(vigil_server.token)
    )
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"address": f"127.0.0.1:{vigil_server.port}"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "context"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_home"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == vigil_server.token
    assert result["data"][CONF_SERVER_ID] == vigil_server.server_id
    # The app restarted with a new token: the entry takes it, no second entry.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info("new-token")
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.data[CONF_TOKEN] == "new-token"


async def test_entities_follow_the_server_states(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    # The camera streams the real test pattern: its frames flow, its entities are available.
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the stream online")
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "the zone available")
    rule_state(vigil_server, vp.ZoneState(counts={"person": 2}))
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "the zone occupied")
    assert _state(hass, PEOPLE) == "2"
    assert _state(hass, CARS) == "0"
    rule_event(vigil_server, "zone_presence", EventPhase.STARTED, label="person", count=2)
    await wait_until(
        hass,
        lambda: hass.states.get(ACTIVITY).attributes.get("event_type") == "entered",
        "an event",
    )
    attributes = hass.states.get(ACTIVITY).attributes
    assert (attributes["object_class"], attributes["track_id"], attributes["count"]) == (
        "person",
        7,
        2,
    )
    # A stream that fails makes the camera's entities unavailable, the problem sensor on.
    stream_state(
        vigil_server, SourceState.OFFLINE, reason="connection refused", key="cannot_connect"
    )
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_ON, "the stream problem")
    assert _state(hass, OCCUPIED) == STATE_UNAVAILABLE
    # Unique ids: the server and camera (camera_uid), the zone (its subentry id), the key.
    unique_ids = {
        e.unique_id for e in er.async_entries_for_config_entry(er.async_get(hass), ENTRY_ID)
    }
    assert {
        f"{camera_uid_of(hass)}_stream_problem",
        f"{camera_uid_of(hass)}_analysed_fps",
        f"{camera_uid_of(hass)}_{ZONE_SLUG}_occupied",
        f"{camera_uid_of(hass)}_{ZONE_SLUG}_count_person",
        f"{camera_uid_of(hass)}_{ZONE_SLUG}_presence",
    } <= unique_ids


async def test_a_server_that_goes_away_comes_back_with_its_states(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    start_server: ServerFactory,
) -> None:
    await setup_entry(hass, config_entry)
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "the zone available")
    port, data = vigil_server.port, vigil_server.data.root
    await vigil_server.stop()
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_UNAVAILABLE, "unavailable")
    assert _state(hass, PROBLEM) == STATE_UNAVAILABLE
    assert config_entry.state is ConfigEntryState.LOADED
    # The same server (same data folder, same port) comes back: the store reconnects by itself.
    await start_server(data=data, port=port)
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "back", limit_s=120)
    assert _state(hass, PROBLEM) == STATE_OFF


async def test_a_refused_token_starts_reauthentication(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_TOKEN: "old-token"}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_TOKEN: vigil_server.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("missing", ["unreachable"])
async def test_an_unreachable_server_at_setup_is_retried(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer, missing: str
) -> None:
    await vigil_server.stop()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
