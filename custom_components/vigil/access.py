"""Who does what: the actors the server's access log records, from Home Assistant's users.

The access log lives on the server (its data folder); Home Assistant tells it who acted: the
user behind a service call, an administrator in the settings, or an automation.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
import inspect
from typing import Any, Final

from homeassistant.core import (
    Context,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import Unauthorized, UnknownUser
from homeassistant.helpers import service
import voluptuous as vol

import vigil_protocol as vp

from .const import DOMAIN

SETTINGS_ACTOR: Final = vp.Actor(name="settings (administrator)", is_admin=True, origin="user")
"""Changes made in the settings (flows carry no user; only administrators can open them)."""
AUTOMATION_ACTOR: Final = vp.Actor(name="automation", is_admin=False, origin="automation")


class AdminRequired(Unauthorized):
    """Only an administrator may call this action."""

    def __init__(self, context: Context) -> None:
        """Refuse the call's user."""
        super().__init__(context=context, permission="admin")


async def async_actor(hass: HomeAssistant, context: Context) -> vp.Actor:
    """Return who made a call: its user, or an automation when it has none."""
    if context.user_id is None:
        return AUTOMATION_ACTOR
    user = await hass.auth.async_get_user(context.user_id)
    if user is None:
        raise UnknownUser(context=context)
    return vp.Actor(name=user.name or "", user_id=user.id, is_admin=user.is_admin, origin="user")


async def async_require_admin(hass: HomeAssistant, context: Context) -> vp.Actor:
    """Return the call's actor, or refuse the call when it is not an administrator's.

    A call without a user (an automation) is not an administrator's: the actions that read
    or export what Vigil keeps need a person, whose name the access log records.
    """
    actor = await async_actor(hass, context)
    if not actor.is_admin:
        raise AdminRequired(context)
    return actor


_ADMIN_SERVICE_RESPONDS: Final = (
    "supports_response" in inspect.signature(service.async_register_admin_service).parameters
)
"""Whether Home Assistant's admin services can answer (a response): from 2025.7 (read in
2025.7.4, 2025.8.0 and 2026.2.3 helpers/service.py). 2025.4's admin handler drops the answer."""


@callback
def async_register_admin_action(
    hass: HomeAssistant,
    name: str,
    handler: Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]],
    schema: vol.Schema,
    supports_response: SupportsResponse,
) -> None:
    """Register `vigil.<name>` for administrators only.

    Home Assistant's `async_register_admin_service` refuses a user who is not an
    administrator before `handler` runs (where it can answer: see above; on older releases
    the action is registered as a plain one). Either way `handler` calls
    `async_require_admin`, which also refuses calls without a user (automations): the access
    log must name the person who read or exported what Vigil keeps.
    """
    if _ADMIN_SERVICE_RESPONDS:
        # Typed as 2025.4 declares it (no supports_response); called as current releases do.
        register: Any = service.async_register_admin_service
        register(hass, DOMAIN, name, handler, schema, supports_response=supports_response)
        return
    hass.services.async_register(
        DOMAIN, name, handler, schema=schema, supports_response=supports_response
    )


def details(**values: Any) -> dict[str, vp.JsonValue]:
    """Return an access log entry's details, as plain JSON."""
    return {key: value for key, value in values.items() if value is not None}
