"""One client's WebSocket: the handshake, its requests and the pushes it subscribed to.

The server speaks first (`Hello`); the client must authenticate within a few seconds or the
connection closes. Requests run concurrently (a slow stream probe never holds a counter reset
back). Pushes go through a bounded queue: a client that cannot keep up is disconnected (it
reconnects and gets a fresh snapshot) rather than slowing the analysis or growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from vigil_core.errors import VigilError
import vigil_protocol as vp

from .errors import ConfigRejected
from .requests import HANDLERS

if TYPE_CHECKING:
    from .app import VigilServer
    from .board import Push

_LOGGER = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10.0
QUEUE_LIMIT = 2000
"""Messages waiting for a slow client before it is disconnected."""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
HEARTBEAT_S = 30.0


class Session:
    """Serve one connected client."""

    def __init__(self, server: VigilServer, ws: web.WebSocketResponse, remote: str) -> None:
        """Bind the session to its socket; nothing is sent before `run`."""
        self.server = server
        self.ws = ws
        self.remote = remote
        self.client = ""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Any = None
        self._closing = False

    async def run(self) -> None:
        """Greet, authenticate, then serve requests until the client goes."""
        writer = asyncio.create_task(self._write(), name=f"vigil ws writer {self.remote}")
        try:
            self._send(self.server.hello())
            if await self._authenticate():
                await self._serve()
        finally:
            await self._finish(writer)

    async def close(self) -> None:
        """Close the connection (the server is stopping)."""
        self._closing = True
        await self.ws.close(code=1001, message=b"server stopping")

    # ------------------------------------------------------------------------------ handshake

    async def _authenticate(self) -> bool:
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_S):
                msg = await self.ws.receive()
        except TimeoutError:
            self._refuse("auth_timeout", "no authentication within 10 seconds")
            return False
        if msg.type is not WSMsgType.TEXT:
            return False
        try:
            auth = vp.loads(vp.Auth, msg.data)
        except vp.ProtocolError as err:
            self._refuse("invalid_auth", f"the first message must authenticate ({err})")
            return False
        if not vp.compatible(auth.protocol_version):
            self._refuse(
                "protocol_version",
                f"this server speaks protocol {vp.PROTOCOL_VERSION}, the client "
                f"{auth.protocol_version}: update the older one",
                {"server": vp.PROTOCOL_VERSION, "client": auth.protocol_version},
            )
            return False
        if not self.server.check_token(auth.token):
            # Never the token, right or wrong: only who tried.
            _LOGGER.warning("Refused a client from %s (%s): wrong token", self.remote, auth.client)
            self._refuse("invalid_auth", "the token is not this server's")
            return False
        self.client = auth.client
        _LOGGER.info("Client %s connected from %s", auth.client, self.remote)
        self._send(vp.AuthOk(server_id=self.server.server_id, protocol_version=vp.PROTOCOL_VERSION))
        return True

    def _refuse(self, key: Any, message: str, placeholders: dict[str, str] | None = None) -> None:
        self._send(
            vp.Refused(translation_key=key, message=message, placeholders=placeholders or {})
        )

    # ------------------------------------------------------------------------------- requests

    async def _serve(self) -> None:
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                self._dispatch(msg.data)
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    def _dispatch(self, text: str) -> None:
        try:
            request = vp.load_client_message(text)
        except vp.ProtocolError as err:
            self._send(_error(_request_id(text), "invalid_request", str(err)))
            return
        if isinstance(request, vp.Auth):
            self._send(_error(-1, "invalid_request", "already authenticated"))
            return
        task = asyncio.create_task(self._handle(request), name=f"vigil {request.KIND}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, request: vp.Request) -> None:
        handler = HANDLERS.get(type(request))
        if handler is None:
            self._send(_error(request.id, "unknown_request", f"{request.KIND} is not handled"))
            return
        try:
            value = await handler(request, self.server, self)
        except ConfigRejected as err:
            self._send(
                vp.ErrorReply(
                    id=request.id,
                    error=vp.ErrorInfo(
                        translation_key=err.translation_key, message=err.message, fields=err.fields
                    ),
                )
            )
        except VigilError as err:
            self._send(
                vp.ErrorReply(
                    id=request.id,
                    error=vp.ErrorInfo(
                        translation_key=err.translation_key,
                        message=err.message,
                        placeholders=dict(err.placeholders),
                    ),
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("Request %s from %s failed", request.KIND, self.client)
            self._send(_error(request.id, "unknown", f"{request.KIND} failed on the server"))
        else:
            self._send(vp.Result(id=request.id, value=value))

    # ---------------------------------------------------------------------------- subscription

    def subscribe(self) -> tuple[vp.StateUpdate, ...]:
        """Follow every change from now on; return the current states."""
        if self._unsubscribe is None:
            self._unsubscribe = self.server.board.subscribe(self._push)
        return self.server.board.states()

    def _push(self, push: Push) -> None:
        self._send(push)

    # ------------------------------------------------------------------------------- sending

    def _send(self, message: Any) -> None:
        if self._closing:
            return
        try:
            self._queue.put_nowait(vp.dumps(message))
        except asyncio.QueueFull:
            _LOGGER.warning(
                "Client %s cannot keep up: disconnecting it", self.client or self.remote
            )
            self._closing = True
            self._queue = asyncio.Queue(maxsize=1)
            self._queue.put_nowait(None)
        except vp.ProtocolError:
            _LOGGER.exception("A message could not be encoded")

    async def _write(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                await self.ws.close(code=1008, message=b"too slow")
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Let what is queued (a refusal, the last replies) go out before the socket closes.
        if not writer.done():
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer, 2.0)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        if self.client:
            _LOGGER.info("Client %s disconnected", self.client)


def _error(request_id: int, key: str, message: str) -> vp.ErrorReply:
    return vp.ErrorReply(id=request_id, error=vp.ErrorInfo(translation_key=key, message=message))


def _request_id(text: str) -> int:
    """Return the id a malformed request carried, or -1."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return -1
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else -1
