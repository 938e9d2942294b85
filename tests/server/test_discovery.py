"""The server's zeroconf announcement: a record a client can connect to, never fatal."""

from __future__ import annotations

import logging

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from vigil_core.server.discovery import (
    SERVICE_TYPE,
    announce,
    announced_addresses,
    service_info,
)


def test_a_server_bound_to_one_address_announces_that_address() -> None:
    assert announced_addresses("192.0.2.7") == ["192.0.2.7"]
    assert announced_addresses("127.0.0.1") == ["127.0.0.1"]


def test_a_server_bound_to_every_interface_announces_the_machines_addresses() -> None:
    found = announced_addresses("0.0.0.0")
    assert found
    assert all(address.count(".") == 3 for address in found)
    assert found == ["127.0.0.1"] or "127.0.0.1" not in found


def test_the_record_holds_addresses_port_and_the_servers_properties() -> None:
    info = service_info("abcdef123456", "garage", 8321, "1.2.3", tls=True, host="192.0.2.9")
    assert info.type == SERVICE_TYPE
    assert info.name == f"garage abcdef.{SERVICE_TYPE}"
    assert info.parsed_addresses() == ["192.0.2.9"]
    assert info.port == 8321
    assert info.properties[b"id"] == b"abcdef123456"
    assert info.properties[b"version"] == b"1.2.3"
    assert info.properties[b"tls"] == b"1"


def _multicast_works() -> bool:
    try:
        probe = AsyncZeroconf(ip_version=IPVersion.V4Only)
    except OSError:
        return False
    probe.zeroconf.close()
    return True


@pytest.mark.usefixtures("socket_enabled")
async def test_announcing_without_multicast_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if _multicast_works():
        pytest.skip("this machine has multicast: the announcement succeeds (next test)")
    with caplog.at_level(logging.WARNING):
        withdraw = await announce("abcdef123456", "x", 8123, "1.0", host="127.0.0.1")
    await withdraw()
    assert "Could not announce the server on the network" in caplog.text


@pytest.mark.usefixtures("socket_enabled")
async def test_the_announced_service_resolves_with_its_address_and_properties() -> None:
    if not _multicast_works():
        pytest.skip("no interface here takes multicast: the previous test covers this machine")
    withdraw = await announce("abcdef123456", "test server", 8123, "9.9.9", host="0.0.0.0")
    client = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, f"test server abcdef.{SERVICE_TYPE}")
        assert await info.async_request(client.zeroconf, 10_000)
        assert info.parsed_addresses() == announced_addresses("0.0.0.0")
        assert info.port == 8123
        assert info.properties[b"id"] == b"abcdef123456"
    finally:
        await client.async_close()
        await withdraw()
