"""Announce the server on the local network: ``_vigil._tcp.local.`` with its id and version.

Home Assistant's zeroconf discovery offers an announced server in its integrations page, so a
user only types the token. Failing to announce (no multicast, a firewall) is logged, never
fatal: a client can always be given the host and port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from vigil_protocol import PROTOCOL_VERSION

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceInfo

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_vigil._tcp.local."


def announced_addresses(host: str) -> list[str]:
    """Return the IPv4 addresses to announce for a server listening on `host`.

    A server bound to one address announces that address; one bound to every interface
    (``0.0.0.0``, ``::``, empty) announces each non-loopback IPv4 address of the machine, or
    the loopback address when it has no other. A client resolves the service to these.
    """
    try:
        bound = ipaddress.ip_address(host)
    except ValueError:
        bound = None  # a host name: announce the machine's addresses
    if bound is not None and not bound.is_unspecified:
        return [str(bound)] if bound.version == 4 else []
    import ifaddr  # noqa: PLC0415 - zeroconf's own dependency, only when announcing

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6 addresses come as tuples; the service is announced on IPv4
            address = ipaddress.ip_address(ip.ip)
            if not address.is_loopback and not address.is_link_local and ip.ip not in found:
                found.append(ip.ip)
    return found or ["127.0.0.1"]


def service_info(
    server_id: str, name: str, port: int, version: str, *, tls: bool, host: str
) -> AsyncServiceInfo:
    """Return the service record: instance name, port, addresses and the server's properties."""
    from zeroconf.asyncio import AsyncServiceInfo  # noqa: PLC0415

    properties = {
        "id": server_id,
        "version": version,
        "protocol": PROTOCOL_VERSION,
        "tls": "1" if tls else "0",
    }
    instance = f"{name[:40]} {server_id[:6]}"
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"{instance}.{SERVICE_TYPE}",
        port=port,
        properties=properties,
        server=f"{socket.gethostname()}.local.",
        parsed_addresses=announced_addresses(host),
    )


async def announce(
    server_id: str,
    name: str,
    port: int,
    version: str,
    *,
    tls: bool = False,
    host: str = "0.0.0.0",
) -> Callable[[], Awaitable[None]]:
    """Register the service with the addresses it listens on; return its withdrawal."""
    from zeroconf import IPVersion  # noqa: PLC0415 - only servers that announce need it
    from zeroconf.asyncio import AsyncZeroconf  # noqa: PLC0415

    info = service_info(server_id, name, port, version, tls=tls, host=host)
    zc: AsyncZeroconf | None = None
    try:
        # Opening the multicast sockets fails where no interface takes multicast.
        zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await zc.async_register_service(info, allow_name_change=True)
    except Exception as err:
        _LOGGER.warning("Could not announce the server on the network: %s", err)
        if zc is not None:
            await zc.async_close()

        async def nothing() -> None:
            return None

        return nothing
    registered = zc
    _LOGGER.info("Announced as %s at %s", info.name, ", ".join(info.parsed_addresses()))

    async def withdraw() -> None:
        try:
            await registered.async_unregister_service(info)
        finally:
            await registered.async_close()

    return withdraw
