"""One Vigil server as Home Assistant sees it: the connection, the states and who follows them.

The store connects to the server, sends it the entry's configuration, subscribes, and keeps
the latest typed state per camera and rule. Entities subscribe to their camera and rule
(`async_subscribe`, like unifiprotect's `ProtectData.async_subscribe`) and read typed states;
they never touch the connection. When the server goes away, every entity of the server turns
unavailable (one log line; a repair issue if it lasts), the store reconnects with backoff and,
once back, sends the configuration again and takes a fresh snapshot of the states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession

import vigil_protocol as vp

from .client import (
    AuthRefused,
    CannotConnect,
    IncompatibleServer,
    ServerError,
    VigilClient,
    VigilClientError,
)
from .const import CONF_TOKEN, DOMAIN, SERVER_ISSUE_AFTER

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

_LOGGER = logging.getLogger(__name__)

BACKOFF_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Waits between reconnection attempts; the last one repeats."""

type Key = tuple[str | None, str | None]
type StateKey = tuple[str | None, str | None, str]
type Listener = Callable[[], None]
type EventListener = Callable[[vp.RuleEvent], None]
type ConfigBuilder = Callable[[], dict[str, Any]]


def server_issue_id(entry_id: str) -> str:
    """Return the repair issue id of a server that stays unreachable."""
    return f"server_unreachable_{entry_id}"


class VigilStore:
    """Follow one server: connection, configuration, states and events."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: VigilClient,
        build_config: ConfigBuilder,
    ) -> None:
        """Keep the client and the configuration builder; nothing connects before `async_start`."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self._build_config = build_config
        self._states: dict[StateKey, vp.StateValue] = {}
        self._listeners: dict[Key, list[Listener]] = {}
        self._event_listeners: dict[Key, list[EventListener]] = {}
        self._connection_listeners: list[Listener] = []
        self.connected = False
        self.applied: vp.ConfigApplied | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._stopping = False
        client.on_push = self._on_push
        client.on_close = self._on_close

    # ------------------------------------------------------------------------ connection

    async def async_start(self) -> vp.Hello:
        """Connect, send the configuration and subscribe (raises the client's errors)."""
        hello = await self.client.connect()
        try:
            await self._async_sync()
        except BaseException:
            await self.client.close()
            raise
        return hello

    async def _async_sync(self) -> None:
        """Send the configuration, then take every state afresh."""
        self.applied = await self.client.call(
            vp.ApplyConfig(config=self._build_config()), vp.ConfigApplied
        )
        states = await self.client.subscribe()
        self._states = {(u.camera_id, u.rule_id, u.state.KIND): u.state for u in states}
        self.connected = True
        self._notify_all()

    async def async_stop(self) -> None:
        """Stop reconnecting and close the connection."""
        self._stopping = True
        task, self._reconnect = self._reconnect, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()

    async def async_apply(self) -> vp.ConfigApplied:
        """Send the entry's configuration again (after a change that needs no reload)."""
        self.applied = await self.async_request(
            vp.ApplyConfig(config=self._build_config()), vp.ConfigApplied
        )
        return self.applied

    @callback
    def _on_close(self, error: Exception | None) -> None:
        """Mark the server unreachable (entities go unavailable) and start reconnecting."""
        if self._stopping:
            return
        self.connected = False
        self._down_since = time.monotonic()
        _LOGGER.warning(
            "Lost the connection to the Vigil server %s (%s); reconnecting",
            self.entry.title,
            error or "closed",
        )
        self._notify_all()
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = self.entry.async_create_background_task(
                self.hass, self._async_reconnect(), f"{DOMAIN} reconnect {self.entry.title}"
            )

    async def _async_reconnect(self) -> None:
        attempt = 0
        while not self._stopping:
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1
            try:
                await self.client.close()
                await self.client.connect()
                await self._async_sync()
            except AuthRefused:
                _LOGGER.warning("The Vigil server %s refuses the token", self.entry.title)
                self.entry.async_start_reauth(self.hass)
                return
            except IncompatibleServer as err:
                self._async_version_issue(err)
                return
            except VigilClientError as err:
                _LOGGER.debug("Vigil server %s still unreachable: %s", self.entry.title, err)
                self._async_check_issue()
                continue
            _LOGGER.warning("The Vigil server %s is back", self.entry.title)
            self._down_since = None
            ir.async_delete_issue(self.hass, DOMAIN, server_issue_id(self.entry.entry_id))
            return

    @callback
    def _async_check_issue(self) -> None:
        """Raise a repair issue once the server has been unreachable for a while."""
        if self._down_since is None:
            return
        if time.monotonic() - self._down_since < SERVER_ISSUE_AFTER.total_seconds():
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            server_issue_id(self.entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="server_unreachable",
            translation_placeholders={
                "server": self.entry.title,
                "address": f"{self.client.host}:{self.client.port}",
            },
        )

    @callback
    def _async_version_issue(self, err: IncompatibleServer) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"protocol_version_{self.entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="protocol_version",
            translation_placeholders={
                "server": self.entry.title,
                "server_version": err.placeholders.get("server", "?"),
                "client_version": err.placeholders.get("client", vp.PROTOCOL_VERSION),
            },
        )

    # ------------------------------------------------------------------------------ reading

    def state(self, camera_id: str | None, rule_id: str | None, kind: str) -> vp.StateValue | None:
        """Return the latest state of a kind for a camera and rule (None before it arrived)."""
        return self._states.get((camera_id, rule_id, kind))

    def camera(self, camera_id: str) -> vp.CameraState | None:
        """Return a camera's stream state and figures."""
        state = self.state(camera_id, None, vp.CameraState.KIND)
        return state if isinstance(state, vp.CameraState) else None

    def server(self) -> vp.ServerState | None:
        """Return the server's own state."""
        state = self.state(None, None, vp.ServerState.KIND)
        return state if isinstance(state, vp.ServerState) else None

    def camera_online(self, camera_id: str) -> bool:
        """Return whether the server is reachable and the camera's frames flow."""
        camera = self.camera(camera_id)
        return self.connected and camera is not None and camera.online

    # ---------------------------------------------------------------------------- following

    @callback
    def async_subscribe(
        self, camera_id: str | None, rule_id: str | None, listener: Listener
    ) -> Callable[[], None]:
        """Call `listener` when a state of this camera and rule changes, or the connection."""
        return _follow(self._listeners.setdefault((camera_id, rule_id), []), listener)

    @callback
    def async_subscribe_events(
        self, camera_id: str | None, rule_id: str | None, listener: EventListener
    ) -> Callable[[], None]:
        """Call `listener` with every event of this camera and rule (rule None: any rule)."""
        return _follow(self._event_listeners.setdefault((camera_id, rule_id), []), listener)

    @callback
    def _on_push(self, push: vp.StatePush | vp.EventPush) -> None:
        if isinstance(push, vp.StatePush):
            update = push.update
            self._states[(update.camera_id, update.rule_id, update.state.KIND)] = update.state
            self._notify((update.camera_id, update.rule_id))
            return
        event = push.event
        for key in ((event.camera_id, event.rule_id), (event.camera_id, None), (None, None)):
            for listener in list(self._event_listeners.get(key, ())):
                listener(event)

    @callback
    def _notify(self, key: Key) -> None:
        for listener in list(self._listeners.get(key, ())):
            listener()

    @callback
    def _notify_all(self) -> None:
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener()

    # ----------------------------------------------------------------------------- requests

    async def async_request[R: vp.Response](self, request: vp.Request, answer: type[R]) -> R:
        """Send a request; turn the server's refusal into a translated Home Assistant error."""
        try:
            return await self.client.call(request, answer)
        except ServerError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="server_error",
                translation_placeholders={"error": err.message},
            ) from err
        except VigilClientError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="server_unreachable",
                translation_placeholders={"server": self.entry.title, "error": err.message},
            ) from err


def new_client(
    hass: HomeAssistant, data: dict[str, Any] | Any, client_name: str | None = None
) -> VigilClient:
    """Return a client for a server entry's data (host, port, token, TLS).

    `client_name` is how the server's log names it (this home, unless a flow says otherwise).
    """
    from homeassistant.const import CONF_HOST, CONF_PORT, CONF_SSL, CONF_VERIFY_SSL  # noqa: PLC0415

    verify = bool(data.get(CONF_VERIFY_SSL, True))
    return VigilClient(
        async_get_clientsession(hass, verify_ssl=verify),
        str(data[CONF_HOST]),
        int(data[CONF_PORT]),
        str(data.get(CONF_TOKEN, "")),
        tls=bool(data.get(CONF_SSL, False)),
        verify_ssl=verify,
        client_name=client_name or f"home-assistant {hass.config.location_name}",
    )


__all__ = ["CannotConnect", "VigilStore", "new_client", "server_issue_id"]


def _follow[L](listeners: list[L], listener: L) -> Callable[[], None]:
    """Add `listener` to `listeners`; return what removes it (harmless when called twice)."""
    listeners.append(listener)

    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove
