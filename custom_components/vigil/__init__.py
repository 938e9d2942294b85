"""The Vigil integration: video analytics on the cameras you already have."""

from __future__ import annotations

from functools import partial
import json
from pathlib import Path

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from vigil_core.engine import Engine
from vigil_core.errors import ModelError, VigilError
from vigil_core.inference.loader import resolve_model

from .anpr_config import SUBENTRY_WATCHLIST, watchlist_spec
from .anpr_entities import async_start_anpr
from .bridge import VigilBridge
from .const import (
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    CORE_VERSION,
    DETECTOR_MODEL,
    DOMAIN,
    MANUFACTURER,
)
from .data import VigilConfigEntry, VigilRuntime
from .engine_config import configured
from .frigate_setup import async_check_frigate, async_frigate_engine_options
from .issues import async_create_model_issue, async_delete_model_issue
from .onvif_runtime import OnvifRuntime
from .privacy import async_access_log, async_setup_privacy, gated_engine_config
from .rule_config import rule_state_dir
from .rule_entities import async_start_rules
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
]


CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register Vigil's actions, which work on the loaded hub."""
    async_setup_services(hass)
    return True


def _resolve_detector(models_dir: str | None, allow_download: bool) -> Path:
    """Find (or fetch) the detector model and check its sha256 (blocking)."""
    return resolve_model(
        DETECTOR_MODEL,
        models_dir=models_dir or None,
        allow_download=allow_download,
        progress=lambda _received, _total: None,
    )


async def async_setup_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> bool:
    """Start the engine for every configured camera and zone."""
    try:
        model = await hass.async_add_executor_job(
            _resolve_detector,
            entry.data.get(CONF_MODELS_DIR),
            entry.data.get(CONF_DOWNLOAD_MODELS, True),
        )
    except ModelError as err:
        async_create_model_issue(hass, err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=err.translation_key,
            translation_placeholders={"model": DETECTOR_MODEL},
        ) from err
    async_delete_model_issue(hass)

    cameras, zones = configured(entry)
    async_check_frigate(hass, entry, cameras)
    # What the deployment context holds back gets neither an engine rule nor entities.
    config, zones, held_back = gated_engine_config(entry, cameras, zones, model.parent)
    # Line totals persist here; the engine reads them when built, so build it off the loop.
    config = config.model_copy(update={"state_dir": str(rule_state_dir(hass, entry))})
    engine = await hass.async_add_executor_job(
        partial(
            Engine,
            config,
            loop=hass.loop,
            audit=await async_access_log(hass),
            **await async_frigate_engine_options(hass, cameras),
        )
    )
    bridge = VigilBridge(hass, entry.entry_id, engine, cameras, zones)
    onvif = OnvifRuntime(hass, entry, cameras)
    # Subscribe before starting, so the first stream states are not missed.
    bridge.async_start()
    await onvif.async_listen(engine)
    try:
        await engine.start()
        await onvif.async_start(engine)
    except VigilError as err:
        bridge.async_stop()
        onvif.async_stop()
        await engine.stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="engine_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = VigilRuntime(
        engine=engine,
        bridge=bridge,
        cameras=cameras,
        zones=zones,
        onvif=onvif,
        settings_key=_settings_key(entry),
    )
    entry.runtime_data.privacy = await async_setup_privacy(hass, entry, engine, held_back)
    entry.runtime_data.rules = async_start_rules(hass, entry, engine)
    async_start_anpr(hass, entry)
    entry.async_on_unload(bridge.async_stop)
    entry.async_on_unload(onvif.async_stop)

    async def _async_stop_engine(_event: Event) -> None:
        await engine.stop()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_engine))
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model="Video analytics hub",
        sw_version=CORE_VERSION,
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


async def _async_update_listener(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Take a watchlist change live; reload for any other change of options or subentries.

    A watchlist entry added, changed or removed must not restart every camera stream (and
    drop the passages being voted on): the engine swaps its watchlist at once instead.
    """
    runtime = entry.runtime_data
    if runtime.settings_key and runtime.settings_key == _settings_key(entry):
        engine = runtime.engine
        engine.anpr.set_watchlist(watchlist_spec(entry, engine.config.anpr.watchlist))
        return
    await hass.config_entries.async_reload(entry.entry_id)


def _settings_key(entry: VigilConfigEntry) -> str:
    """Return everything the engine is built from except the watchlist, as one string."""
    subentries = sorted(
        (
            sub.subentry_id,
            sub.subentry_type,
            json.dumps(dict(sub.data), sort_keys=True, default=str),
        )
        for sub in entry.subentries.values()
        if sub.subentry_type != SUBENTRY_WATCHLIST
    )
    return json.dumps(
        [dict(entry.data), dict(entry.options), subentries], sort_keys=True, default=str
    )


async def async_unload_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> bool:
    """Unload the entities, then stop every thread and close every stream."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.engine.stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Remove the repair issues the entry raised."""
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
