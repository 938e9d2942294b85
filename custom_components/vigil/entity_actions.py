"""Entity actions registered once, in `async_setup`, for every entity of a platform.

Home Assistant resolves an entity action's targets itself (entities, devices, areas, floors,
labels) and calls the function on each targeted entity of the platform. Current releases
offer `service.async_register_platform_entity_service` for this (reolink and advantage_air use
it; read in 2026.2.3, absent in 2025.8.0); on older ones (2025.4, which the tests run) the same
is done with the per-platform entity map that `EntityPlatform` fills, the one the newer helper
reads. Feature-detected by the helper's presence. No `async_extract_entity_ids` with `hass`
(its `hass` argument is deprecated from 2025.10 and removed in 2026.10).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import service
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import DATA_DOMAIN_PLATFORM_ENTITIES

from .const import DOMAIN

type EntityAction = Callable[[Any, ServiceCall], Awaitable[None]]


def async_register_entity_action(
    hass: HomeAssistant, name: str, entity_domain: str, func: EntityAction
) -> None:
    """Register `vigil.<name>`, calling `func(entity, call)` on each targeted entity.

    `entity_domain` is the platform whose entities the action acts on (`sensor`, `button`).
    """
    register = getattr(service, "async_register_platform_entity_service", None)
    if register is not None:
        register(hass, DOMAIN, name, entity_domain=entity_domain, func=func, schema={})
        return
    entities: dict[str, Entity] = hass.data.setdefault(
        DATA_DOMAIN_PLATFORM_ENTITIES, {}
    ).setdefault((entity_domain, DOMAIN), {})
    service.async_register_entity_service(
        hass, DOMAIN, name, entities=entities, func=func, job_type=None, schema={}
    )


def explicitly_targeted(entity: Entity, call: ServiceCall) -> bool:
    """Return whether a call names this entity itself (not through its device or area)."""
    named = call.data.get("entity_id")
    if isinstance(named, str):
        return named == entity.entity_id
    return isinstance(named, list) and entity.entity_id in named
