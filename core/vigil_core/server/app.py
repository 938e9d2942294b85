"""VigilServer: one engine behind a typed WebSocket protocol and HTTP pictures.

The server owns everything that touches cameras and models: streams, ONVIF, Frigate, the
detector, the rules, the plate stores and the access log. Clients (Home Assistant's Vigil
integration, scripts) send it a whole configuration and follow typed states and events; the
server keeps the last configuration in its data folder and resumes it after a restart, with
or without a client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
from functools import partial
import logging
from pathlib import Path
import socket
import ssl
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from vigil_core.compliance.inventory import enforce_context
from vigil_core.config import EngineConfig
from vigil_core.engine import Engine, RestartRequired
from vigil_core.errors import ConfigInvalid, ModelError, VigilError
from vigil_core.inference.detectors import runs_as_detector
from vigil_core.inference.registry import default_registry
from vigil_core.privacy.access_log import AccessLog, load_or_create_key
from vigil_core.privacy.context import missing_paperwork
from vigil_core.privacy.retention import DirectoryStore
from vigil_protocol import (
    CAPABILITIES,
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    ConfigApplied,
    FieldError,
    Hello,
)
from vigil_protocol.privacy import Artefact

from .board import StateBoard, _held_back
from .data import DataFolder
from .errors import ConfigRejected, field_errors
from .http import build_app
from .models import fetch_missing
from .mqtt import MqttPublisher, MqttSettings
from .pictures import FrameCache
from .tracks import MEMORY_S, TrackMemories

_LOGGER = logging.getLogger(__name__)

REFRESH_S = 5.0
"""Figures (analysed fps, inference time, CPU) are read this often."""
PURGE_INTERVAL_S = 3600.0
"""Retention purges run this often (and a minute after start)."""
FIRST_PURGE_S = 60.0
SERVER_OWNED = ("models_dir", "state_dir")
"""Configuration keys only the server sets: paths on its own machine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How a server runs: its data folder, where it listens, how clients prove who they are."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    name: str = field(default_factory=socket.gethostname)
    models_dir: Path | None = None
    allow_download: bool = False
    """Download missing models from their pinned upstream URLs (sha256-checked)."""
    config: Mapping[str, Any] | None = None
    """A standalone configuration (`--config FILE`), applied at start instead of the saved one."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_token: bool = True
    """Only a loopback server may run without a token (`--no-auth`)."""
    zeroconf: bool = True
    version: str = "dev"
    discovery_targets: tuple[tuple[str, int], ...] | None = None
    """Where WS-Discovery probes go (None: the ONVIF multicast group)."""
    track_memory_s: float = MEMORY_S
    """Seconds of recent tracks kept per camera for `ReplayRule` (0: none)."""
    mqtt: MqttSettings | None = None
    """Publish every state and event to this MQTT broker too (None: only to clients)."""
    kserve: Mapping[str, Any] | None = None
    """The detector's KServe v2 server settings (`url`, optionally `model`), owned by the
    server: every configuration a client applies runs its detector there (None: as the
    configuration says). A Home Assistant entry sends no inference server of its own."""


class VigilServer:
    """Run an engine for clients: apply configurations, publish states, serve pictures."""

    def __init__(self, settings: ServerSettings) -> None:
        """Keep the settings; nothing starts before `start`."""
        if not settings.require_token and not _is_loopback(settings.host):
            raise VigilError(
                f"refusing to listen on {settings.host} without a token: only a loopback "
                "address may run with --no-auth"
            )
        self.settings = settings
        self.data = DataFolder(settings.data_dir)
        self.board = StateBoard(topics_file=self.data.topics_file)
        self.frames = FrameCache()
        self.tracks = TrackMemories(settings.track_memory_s)
        self.engine: Engine | None = None
        self.raw_config: dict[str, Any] | None = None
        self.token = ""
        self.server_id = ""
        self.access_log: AccessLog | None = None
        self.mqtt: MqttPublisher | None = None
        self._apply_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._announcer: Callable[[], Any] | None = None
        self._sessions: set[Any] = set()
        self.port = settings.port
        self.discovery_options: dict[str, Any] = (
            {"targets": settings.discovery_targets} if settings.discovery_targets else {}
        )

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Prepare the data folder, resume the configuration, then listen."""
        await asyncio.to_thread(self._prepare)
        if self.settings.mqtt is not None:
            # Before the configuration runs, so that the broker sees its first states.
            self.mqtt = MqttPublisher(
                self.settings.mqtt, self.server_id, self.board,
                server_name=self.settings.name, version=self.settings.version,
            )  # fmt: skip
            await self.mqtt.start()
        initial = dict(self.settings.config) if self.settings.config is not None else None
        saved = initial if initial is not None else await asyncio.to_thread(self.data.load_config)
        if saved is not None:
            try:
                await self.apply(saved)
            except ConfigRejected as err:
                if initial is not None:
                    # `serve --config FILE`: a wrong file stops the server, every field said.
                    invalid = ConfigInvalid(str(err))
                    invalid.fields = tuple(f"{field.loc}: {field.message}" for field in err.fields)
                    raise invalid from None
                _LOGGER.error("The saved configuration could not be resumed: %s", err)
            except VigilError as err:
                if initial is not None:
                    raise
                _LOGGER.error("The saved configuration could not be resumed: %s", err)
        await self._listen()
        self._timers = [
            asyncio.create_task(self._every(REFRESH_S, self._refresh), name="vigil refresh"),
            asyncio.create_task(
                self._every(PURGE_INTERVAL_S, self._purge, first=FIRST_PURGE_S),
                name="vigil purge",
            ),
        ]
        if self.settings.zeroconf:
            from .discovery import announce  # noqa: PLC0415 - zeroconf only when announcing

            self._announcer = await announce(
                self.server_id, self.settings.name, self.port, self.settings.version,
                tls=self.settings.tls_cert is not None,
                host=self.settings.host,
            )  # fmt: skip
        _LOGGER.info(
            "Vigil server %s listening on %s:%d (protocol %s)",
            self.settings.name,
            self.settings.host,
            self.port,
            PROTOCOL_VERSION,
        )

    def _prepare(self) -> None:
        self.data.prepare()
        default_registry()  # read once here, off the event loop: `parse` checks the detector
        self.token = self.data.token()
        self.server_id = self.data.server_id()
        key = load_or_create_key(self.data.root / "access_log.key")
        self.access_log = AccessLog(self.data.access_log, key=key)
        self.board.load_topics()

    async def _listen(self) -> None:
        app = build_app(self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        context = self._tls_context()
        self._site = web.TCPSite(
            self._runner, self.settings.host, self.settings.port, ssl_context=context
        )
        await self._site.start()
        server = self._site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    def _tls_context(self) -> ssl.SSLContext | None:
        cert, key = self.settings.tls_cert, self.settings.tls_key
        if cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    async def stop(self) -> None:
        """Close every client, stop the engine and the timers."""
        for timer in self._timers:
            timer.cancel()
        for timer in self._timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers = []
        if self._announcer is not None:
            await self._announcer()
            self._announcer = None
        for session in list(self._sessions):
            await session.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._stop_engine()
        if self.mqtt is not None:
            # Last, so that the cameras' final states reach the broker before `offline`.
            await self.mqtt.stop()
            self.mqtt = None

    async def _stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        self.board.detach()
        if engine is not None:
            await engine.stop()

    @property
    def models_dir(self) -> Path:
        """Return the first folder searched for models (and where --download puts them)."""
        return self.settings.models_dir or self.data.models_dir

    def hello(self) -> Hello:
        """Return what the server says first on every connection."""
        return Hello(
            server_id=self.server_id,
            server_name=self.settings.name,
            server_version=self.settings.version,
            protocol_version=PROTOCOL_VERSION,
            capabilities=CAPABILITIES,
        )

    # --------------------------------------------------------------------------- configuration

    def parse(self, raw: Mapping[str, Any]) -> EngineConfig:
        """Validate a configuration with the server's own paths; raise ConfigRejected."""
        data = {key: value for key, value in raw.items() if key not in SERVER_OWNED}
        data["state_dir"] = str(self.data.state_dir)
        data["models_dir"] = str(self.models_dir)
        detector = data.get("detector") or {}
        if self.settings.kserve is not None and isinstance(detector, Mapping):
            kserve = detector.get("kserve") or {}
            kserve = {**(kserve if isinstance(kserve, Mapping) else {}), **self.settings.kserve}
            data["detector"] = {**detector, "backend": "kserve", "kserve": kserve}
        try:
            config = EngineConfig.model_validate(data)
        except ValidationError as err:
            fields = field_errors(err)
            raise ConfigRejected(
                f"invalid config at {fields[0].loc}: {fields[0].message}", fields
            ) from None
        except (RecursionError, ValueError, TypeError) as err:
            raise ConfigRejected(
                "the configuration cannot be read",
                (FieldError(loc="config", message=str(err), translation_key="config_invalid"),),
            ) from None
        _check_detector(config)
        return config

    async def apply(self, raw: Mapping[str, Any], *, dry_run: bool = False) -> ConfigApplied:
        """Validate a configuration and (unless a dry run) run it; return what changed."""
        config = self.parse(raw)
        async with self._apply_lock:
            if dry_run:
                return self._preview(config)
            applied = await self._run(config)
            if self.mqtt is not None:
                self.mqtt.prune()
            self.raw_config = {k: v for k, v in raw.items() if k not in SERVER_OWNED}
            if self.settings.config is None:
                await asyncio.to_thread(self.data.save_config, self.raw_config)
            return applied

    def _preview(self, config: EngineConfig) -> ConfigApplied:
        gated, violations = enforce_context(config)
        old = {c.id: c for c in (self.engine.config.cameras if self.engine else [])}
        new = {c.id: c for c in gated.cameras}
        return ConfigApplied(
            started=tuple(sorted(set(new) - set(old))),
            restarted=tuple(sorted(i for i in set(new) & set(old) if new[i] != old[i])),
            unchanged=tuple(sorted(i for i in set(new) & set(old) if new[i] == old[i])),
            removed=tuple(sorted(set(old) - set(new))),
            held_back=tuple(_held_back(v) for v in violations),
            paperwork_missing=tuple(missing_paperwork(config.privacy)),
        )

    async def _run(self, config: EngineConfig) -> ConfigApplied:
        if self.settings.allow_download:
            await asyncio.to_thread(fetch_missing, config, self.models_dir)
        engine = self.engine
        if engine is not None:
            # The board learns of new and changed cameras before the engine starts them (as
            # `attach` does for a new engine): their first events (an ONVIF channel going up,
            # the topics the camera announces) come while `apply` still loads the detector or
            # opens the stream, and the board drops events of cameras it does not know yet.
            gated, violations = enforce_context(config)
            self.board.reconfigure(gated.cameras, violations)
            try:
                changes = await engine.apply(config)
            except RestartRequired:
                _LOGGER.info("Shared settings changed: restarting every camera")
            else:
                self.board.reconfigure(engine.config.cameras, engine.privacy_violations)
                self.tracks.retain(camera.id for camera in engine.config.cameras)
                self.board.set_paperwork(missing_paperwork(config.privacy))
                return ConfigApplied(
                    started=changes.started,
                    restarted=changes.restarted,
                    unchanged=changes.unchanged,
                    removed=changes.removed,
                    held_back=tuple(_held_back(v) for v in engine.privacy_violations),
                    paperwork_missing=tuple(missing_paperwork(config.privacy)),
                )
            old_ids = set(engine.camera_ids)
            await self._stop_engine()
        else:
            old_ids = set()
        engine = await asyncio.to_thread(
            partial(
                Engine,
                config,
                loop=asyncio.get_running_loop(),
                audit=self.access_log,
                observers=self.tracks.observer,
            )
        )
        self.tracks.retain(camera.id for camera in engine.config.cameras)
        self._register_stores(engine)
        passages = await asyncio.to_thread(_passages, engine)
        self.board.attach(engine, passages)
        self.engine = engine
        try:
            await engine.start()
        except ModelError as err:
            _LOGGER.error("The detector cannot run: %s", err)
            self.board.set_model_error(str(err), err.translation_key)
        else:
            self.board.set_model_error(None, None)
        new_ids = {c.id for c in engine.config.cameras}
        return ConfigApplied(
            started=tuple(sorted(new_ids - old_ids)),
            restarted=tuple(sorted(new_ids & old_ids)),
            removed=tuple(sorted(old_ids - new_ids)),
            held_back=tuple(_held_back(v) for v in engine.privacy_violations),
            paperwork_missing=tuple(missing_paperwork(config.privacy)),
        )

    def _register_stores(self, engine: Engine) -> None:
        """Put the server's own artefacts under the engine's retention purges."""
        if self.access_log is not None:
            engine.retention.register(self.access_log)
        engine.retention.register(
            DirectoryStore(Artefact.EXPORTS, self.data.documents_dir, name="documents")
        )

    # -------------------------------------------------------------------------------- timers

    async def _every(
        self, seconds: float, job: Callable[[], Any], first: float | None = None
    ) -> None:
        await asyncio.sleep(seconds if first is None else first)
        while True:
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                _LOGGER.exception("A periodic job of the server failed")
            await asyncio.sleep(seconds)

    def _refresh(self) -> None:
        self.board.refresh()

    async def _purge(self) -> None:
        engine = self.engine
        if engine is not None:
            await asyncio.to_thread(engine.retention.purge)

    # ------------------------------------------------------------------------------- sessions

    def add_session(self, session: Any) -> None:
        """Track a connected client (closed when the server stops)."""
        self._sessions.add(session)

    def remove_session(self, session: Any) -> None:
        """Forget a client."""
        self._sessions.discard(session)

    def check_token(self, token: str) -> bool:
        """Return whether a token is the server's (compared in constant time)."""
        import hmac  # noqa: PLC0415

        if not self.settings.require_token:
            return True
        return bool(self.token) and hmac.compare_digest(token.encode(), self.token.encode())


def _passages(engine: Engine) -> dict[str, int]:
    """Return today's passages of each plate camera (blocking: reads the store)."""
    counts: dict[str, int] = {}
    for camera in engine.config.cameras:
        if camera.anpr.enabled:
            try:
                counts[camera.id] = engine.anpr.passages(camera.id)
            except (OSError, VigilError) as err:
                _LOGGER.debug("No passage count for %s: %s", camera.id, err)
    return counts


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def _check_detector(config: EngineConfig) -> None:
    """Refuse a detector the registry does not know, or a model that detects no objects.

    Otherwise the configuration would be saved and the cameras would wait for a detector
    that never loads (the engine reports it only once it starts).
    """
    name = config.detector.model
    registry = default_registry()
    if name in registry and runs_as_detector(registry.get(name)):
        return
    detectors = ", ".join(spec.name for spec in registry if runs_as_detector(spec))
    message = (
        f"'{name}' is a {registry.get(name).role} model, not an object detector"
        if name in registry
        else f"unknown model '{name}'"
    )
    message += f" (detectors: {detectors})"
    raise ConfigRejected(
        f"invalid config at detector.model: {message}",
        (FieldError(loc="detector.model", message=message, translation_key="unknown_model"),),
    )


__all__ = ["ConfigInvalid", "ConfigRejected", "ServerSettings", "VigilServer", "field_errors"]
