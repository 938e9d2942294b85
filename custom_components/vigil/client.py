"""A client of one Vigil server: the protocol's WebSocket and HTTP pictures, over aiohttp.

Nothing here imports Home Assistant or the engine: only `vigil_protocol` (pure Python) and
aiohttp, which Home Assistant ships. The connection is one WebSocket; requests carry ids and
wait for their answer; pushes (states, events) go to one callback. Reconnecting is the
caller's business (`store.py`), which knows when to retry and what to send again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import replace
import itertools
import json
import logging
from typing import Any, TypeVar, cast

import aiohttp

import vigil_protocol as vp
from vigil_protocol.privacy import ACTOR_HEADER

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
"""Most requests answer at once; a stream probe can take its own timeout plus a little."""

R = TypeVar("R", bound=vp.Response)


class VigilClientError(Exception):
    """Base error: a translation key (for a form or a repair issue) and a message."""

    translation_key = "cannot_connect"

    def __init__(self, message: str, placeholders: dict[str, str] | None = None) -> None:
        """Keep the message and the translation's placeholders."""
        super().__init__(message)
        self.message = message
        self.placeholders = placeholders or {}


class CannotConnect(VigilClientError):
    """The server cannot be reached (refused, timed out, closed the connection)."""

    translation_key = "cannot_connect"


class AuthRefused(VigilClientError):
    """The server refused the token."""

    translation_key = "invalid_auth"


class IncompatibleServer(VigilClientError):
    """The server speaks another major version of the protocol."""

    translation_key = "protocol_version"


class ServerError(VigilClientError):
    """The server answered a request with an error."""

    def __init__(self, info: vp.ErrorInfo) -> None:
        """Keep the server's error: its translation key, placeholders and field errors."""
        super().__init__(info.message, dict(info.placeholders))
        self.info = info
        self.translation_key = info.translation_key

    @property
    def fields(self) -> tuple[vp.FieldError, ...]:
        """Return the per-field errors of a refused configuration."""
        return self.info.fields


type PushCallback = Callable[[vp.StatePush | vp.EventPush], None]
type CloseCallback = Callable[[Exception | None], None]


class VigilClient:
    """One authenticated connection to a Vigil server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int,
        token: str,
        *,
        tls: bool = False,
        verify_ssl: bool = True,
        client_name: str = "vigil-client",
    ) -> None:
        """Keep the address and token; nothing connects before `connect`."""
        self._session = session
        self.host = host
        self.port = port
        self._token = token
        self.tls = tls
        self._ssl = verify_ssl
        """aiohttp verifies the certificate with True, not at all with False (self-signed)."""
        self._client_name = client_name
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[vp.Response]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.on_push: PushCallback | None = None
        self.on_close: CloseCallback | None = None
        self.hello: vp.Hello | None = None

    @property
    def base_url(self) -> str:
        """Return the server's HTTP base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Return whether the WebSocket is open and authenticated."""
        return self._ws is not None and not self._ws.closed and self._reader is not None

    # ------------------------------------------------------------------------------ handshake

    async def connect(self) -> vp.Hello:
        """Open the WebSocket and authenticate; return the server's Hello.

        Raises CannotConnect, AuthRefused or IncompatibleServer.
        """
        url = self.base_url.replace("http", "ws", 1) + vp.WS_PATH
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                ws = await self._session.ws_connect(
                    url, ssl=self._ssl, heartbeat=30.0, max_msg_size=16 * 1024 * 1024
                )
                try:
                    hello = await self._handshake(ws)
                except BaseException:
                    await ws.close()
                    raise
        except TimeoutError:
            raise CannotConnect(f"{self.host}:{self.port} did not answer in time") from None
        except aiohttp.ClientError as err:
            raise CannotConnect(f"cannot reach {self.host}:{self.port}: {err}") from None
        self._ws = ws
        self.hello = hello
        self._reader = asyncio.create_task(self._read(ws), name=f"vigil client {self.host}")
        return hello

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> vp.Hello:
        first = await self._receive(ws)
        if not isinstance(first, vp.Hello):
            raise CannotConnect("the server did not introduce itself")
        if not vp.compatible(first.protocol_version):
            raise IncompatibleServer(
                f"the server speaks protocol {first.protocol_version}, "
                f"this client {vp.PROTOCOL_VERSION}",
                {"server": first.protocol_version, "client": vp.PROTOCOL_VERSION},
            )
        auth = vp.Auth(
            token=self._token, client=self._client_name, protocol_version=vp.PROTOCOL_VERSION
        )
        await ws.send_str(vp.dumps(auth))
        answer = await self._receive(ws)
        if isinstance(answer, vp.AuthOk):
            return first
        if isinstance(answer, vp.Refused):
            if answer.translation_key == "protocol_version":
                raise IncompatibleServer(answer.message, dict(answer.placeholders))
            raise AuthRefused(answer.message)
        raise CannotConnect("the server answered the authentication with something else")

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> vp.ServerMessage:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise CannotConnect("the server closed the connection")
        try:
            return vp.load_server_message(msg.data)
        except vp.ProtocolError as err:
            raise CannotConnect(f"the server sent something unreadable: {err}") from None

    # ------------------------------------------------------------------------------- reading

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        error: Exception | None = None
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._on_message(msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    error = CannotConnect(f"connection error: {ws.exception()}")
                    break
        except asyncio.CancelledError:
            raise
        except Exception as err:
            error = err
        finally:
            self._ws = None
            self._fail_pending(error or CannotConnect("the server closed the connection"))
        if self._reader is not None and self.on_close is not None:
            self.on_close(error)

    def _on_message(self, text: str) -> None:
        try:
            message = vp.load_server_message(text)
        except vp.ProtocolError as err:
            _LOGGER.warning("Ignored an unreadable message from the Vigil server: %s", err)
            return
        if isinstance(message, vp.Result | vp.ErrorReply):
            future = self._pending.pop(message.id, None)
            if future is None or future.done():
                return
            if isinstance(message, vp.Result):
                future.set_result(message.value)
            else:
                future.set_exception(ServerError(message.error))
        elif isinstance(message, vp.StatePush | vp.EventPush) and self.on_push is not None:
            try:
                self.on_push(message)
            except Exception:
                _LOGGER.exception("Handling a push from the Vigil server failed")

    def _fail_pending(self, error: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(
                    error if isinstance(error, VigilClientError) else CannotConnect(str(error))
                )

    # ------------------------------------------------------------------------------ requests

    async def request(self, request: vp.Request, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        """Send a request and return the server's typed answer (raises ServerError)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise CannotConnect("not connected to the Vigil server")
        request_id = next(self._ids)
        message = _with_id(request, request_id)
        future: asyncio.Future[vp.Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send_str(vp.dumps(message))
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise CannotConnect(f"the server did not answer {request.KIND} in time") from None
        except (ConnectionResetError, aiohttp.ClientError) as err:
            raise CannotConnect(f"lost the connection: {err}") from None
        finally:
            self._pending.pop(request_id, None)

    async def call(
        self, request: vp.Request, answer: type[R], timeout_s: float = REQUEST_TIMEOUT_S
    ) -> R:
        """Send a request and check its answer's type."""
        value = await self.request(request, timeout_s)
        if not isinstance(value, answer):
            raise CannotConnect(f"the server answered {request.KIND} with {type(value).__name__}")
        return value

    async def subscribe(self) -> tuple[vp.StateUpdate, ...]:
        """Follow every state and event (pushes go to `on_push`); return the current states."""
        answer = await self.call(vp.Subscribe(), vp.Subscribed)
        return answer.states

    # --------------------------------------------------------------------------------- HTTP

    async def fetch(
        self, path: str, params: dict[str, str] | None = None, *, actor: vp.Actor | None = None
    ) -> bytes:
        """GET a picture or a document (raises ServerError or CannotConnect).

        A sensitive picture needs `actor`, the administrator who looks: the server refuses it
        otherwise, and writes each view to its access log.
        """
        headers = {ACTOR_HEADER: json.dumps(vp.encode(actor))} if actor is not None else None
        return await self._http("GET", path, params=params, headers=headers)

    async def render(self, drawing: dict[str, Any]) -> bytes:
        """Draw shapes on a camera's picture or a probed frame; return the JPEG."""
        return await self._http("POST", "/api/render", json=drawing)

    async def _http(self, method: str, path: str, **kwargs: Any) -> bytes:
        headers = {**(kwargs.pop("headers", None) or {}), "Authorization": f"Bearer {self._token}"}
        try:
            async with (
                asyncio.timeout(REQUEST_TIMEOUT_S),
                self._session.request(
                    method, self.base_url + path, headers=headers, ssl=self._ssl, **kwargs
                ) as response,
            ):
                body = await response.read()
                if response.status == 200:
                    return body
                info = _http_error(response.status, body)
        except TimeoutError:
            raise CannotConnect(f"the server did not answer {path} in time") from None
        except aiohttp.ClientError as err:
            raise CannotConnect(f"cannot reach the server: {err}") from None
        if info.translation_key == "invalid_auth":
            raise AuthRefused(info.message)
        raise ServerError(info)

    # -------------------------------------------------------------------------------- closing

    async def close(self) -> None:
        """Close the connection and stop reading (no `on_close` call)."""
        reader, self._reader = self._reader, None
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._fail_pending(CannotConnect("the connection was closed"))


def _with_id(request: vp.Request, request_id: int) -> vp.Request:
    return cast("vp.Request", replace(cast("Any", request), id=request_id))


def _http_error(status: int, body: bytes) -> vp.ErrorInfo:
    try:
        data = json.loads(body)
        return vp.ErrorInfo(
            translation_key=str(data["translation_key"]), message=str(data["message"])
        )
    except (ValueError, KeyError, TypeError):
        return vp.ErrorInfo(translation_key="unknown", message=f"HTTP {status}")
