"""Fixtures for the server tests: a real Vigil server in this process, clients over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.vigil.client import VigilClient
from tests.integration.conftest import rtsp_media_dir, rtsp_server  # noqa: F401 - fixtures
from vigil_core.server import ServerSettings, VigilServer

type ServerFactory = Callable[..., Awaitable[VigilServer]]


@pytest.fixture
async def start_server(
    tmp_path: Path, models_dir: Path, socket_enabled: None
) -> AsyncIterator[ServerFactory]:
    """Return a factory starting servers on 127.0.0.1 (a free port); stop them after the test."""
    servers: list[VigilServer] = []

    async def start(data: Path | None = None, **options: Any) -> VigilServer:
        settings = ServerSettings(
            data_dir=data or tmp_path / "data",
            port=0,
            zeroconf=False,
            models_dir=models_dir,
            name="test",
            **options,
        )
        server = VigilServer(settings)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return an aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def connect(
    http: aiohttp.ClientSession,
) -> AsyncIterator[Callable[..., Awaitable[VigilClient]]]:
    """Return a function connecting an authenticated client to a server; close them after."""
    clients: list[VigilClient] = []

    async def make(server: VigilServer, token: str | None = None) -> VigilClient:
        client = VigilClient(
            http, "127.0.0.1", server.port, server.token if token is None else token,
            client_name="tests",
        )  # fmt: skip
        await client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
