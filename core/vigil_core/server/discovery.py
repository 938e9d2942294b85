"""Announce the server on the local network: ``_vigil._tcp.local.`` with its id and version.

Home Assistant's zeroconf discovery offers an announced server in its integrations page, so a
user only types the token. Failing to announce (no multicast, a firewall) is logged, never
fatal: a client can always be given the host and port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging
import socket

from vigil_protocol import PROTOCOL_VERSION

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_vigil._tcp.local."


async def announce(
    server_id: str, name: str, port: int, version: str, *, tls: bool = False
) -> Callable[[], Awaitable[None]]:
    """Register the service; return a coroutine function that withdraws it."""
    from zeroconf import IPVersion  # noqa: PLC0415 - only servers that announce need it
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf  # noqa: PLC0415

    properties = {
        "id": server_id,
        "version": version,
        "protocol": PROTOCOL_VERSION,
        "tls": "1" if tls else "0",
    }
    instance = f"{name[:40]} {server_id[:6]}"
    info = AsyncServiceInfo(
        SERVICE_TYPE,
        f"{instance}.{SERVICE_TYPE}",
        port=port,
        properties=properties,
        server=f"{socket.gethostname()}.local.",
    )
    zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        await zc.async_register_service(info, allow_name_change=True)
    except Exception as err:
        _LOGGER.warning("Could not announce the server on the network: %s", err)
        await zc.async_close()

        async def nothing() -> None:
            return None

        return nothing
    _LOGGER.info("Announced as %s", info.name)

    async def withdraw() -> None:
        try:
            await zc.async_unregister_service(info)
        finally:
            await zc.async_close()

    return withdraw
