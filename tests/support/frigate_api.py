"""Serve Frigate's HTTP API on 127.0.0.1 for tests, with each version's recorded answers.

``/api/version``, ``/api/config`` and ``/api/stats`` come from tests/fixtures/frigate/<version>.
With a username the server behaves like Frigate's authenticated port 8971 (0.14+): everything but
``POST /api/login`` answers nginx's 401 page until the ``frigate_token`` cookie (or a bearer token)
from a successful login comes back. Without one it is the open port 5000.
"""

from __future__ import annotations

import json
from pathlib import Path
import secrets
import socket
from types import TracebackType
from typing import Any, Self

from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "frigate"
VERSIONS = ("0.13", "0.14", "0.15", "0.16", "0.17")
NGINX_401 = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def load_config(version: str) -> dict[str, Any]:
    """Return a version's recorded ``/api/config`` answer."""
    config: dict[str, Any] = json.loads((FIXTURES / version / "config.json").read_text())
    return config


class FrigateApi:
    """A Frigate server of one version, optionally behind its login."""

    def __init__(
        self,
        version: str = "0.14",
        *,
        username: str | None = None,
        password: str | None = None,
        config: dict[str, Any] | None = None,
        port: int = 0,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"no samples for Frigate {version}")
        if username is not None and version == "0.13":
            raise ValueError("Frigate 0.13 has no authentication")
        folder = FIXTURES / version
        self.version = version
        self.username = username
        self.password = password
        self.config = config if config is not None else load_config(version)
        self.version_text = (folder / "version.txt").read_text().strip()
        self.stats: dict[str, Any] = json.loads((folder / "stats.json").read_text())
        self.cookie_name = str(self.config.get("auth", {}).get("cookie_name", "frigate_token"))
        self.requests: list[str] = []
        self.logins = 0
        self._tokens: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self.host = "127.0.0.1"
        self.port = port
        """0 picks a free port; a restarted server is given its old one back."""

    @property
    def url(self) -> str:
        """Return the base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def _authorised(self, request: web.Request) -> bool:
        """Return whether the request carries a token from a successful login."""
        if self.username is None:
            return True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return bool({request.cookies.get(self.cookie_name), bearer} & self._tokens)

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Record the request and answer nginx's 401 page when a login is missing."""
        self.requests.append(f"{request.method} {request.path}")
        if request.path != "/api/login" and not self._authorised(request):
            return web.Response(status=401, text=NGINX_401, content_type="text/html")
        response: web.StreamResponse = await handler(request)
        return response

    async def _version(self, _: web.Request) -> web.Response:
        return web.Response(text=self.version_text)

    async def _config(self, _: web.Request) -> web.Response:
        return web.json_response(self.config)

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats)

    async def _login(self, request: web.Request) -> web.Response:
        """Check ``{"user", "password"}`` and set the JWT-like session cookie."""
        body = await request.json()
        self.logins += 1
        if (
            self.username is None
            or body.get("user") != self.username
            or body.get("password") != self.password
        ):
            return web.json_response({"message": "Login failed"}, status=401)
        token = f"eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(16)}"
        self._tokens.add(token)
        response = web.Response()
        response.set_cookie(self.cookie_name, token, httponly=True, max_age=86400)
        return response

    async def _root(self, _: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><body>Frigate</body></html>", content_type="text/html"
        )

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/", self._root)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/stats", self._stats)
        if self.version != "0.13":
            app.router.add_post("/api/login", self._login)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        await web.SockSite(self._runner, self._socket).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._socket is not None:
            self._socket.close()
