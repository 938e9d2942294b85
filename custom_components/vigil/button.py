"""Buttons: the server's impact assessment; each camera's re-capture of its reference view."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_REASON, DOMAIN
from .data import VigilConfigEntry
from .entity import server_device_info
from .services import ATTR_SERVER, SERVICE_GENERATE_IMPACT_ASSESSMENT
from .tamper_entities import async_setup_tamper_buttons

PARALLEL_UPDATES = 1

IMPACT_ASSESSMENT = ButtonEntityDescription(
    key="impact_assessment",
    translation_key="impact_assessment",
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the server's impact assessment button and the cameras' re-capture buttons."""
    async_add_entities([VigilAssessmentButton(entry)])
    async_setup_tamper_buttons(entry, async_add_entities)


class VigilAssessmentButton(ButtonEntity):
    """Generate the privacy documents from the live configuration (administrators only)."""

    _attr_has_entity_name = True
    entity_description = IMPACT_ASSESSMENT

    def __init__(self, entry: VigilConfigEntry) -> None:
        """Attach the button to the server's device."""
        self._entry = entry
        self._attr_unique_id = f"{entry.entry_id}_{IMPACT_ASSESSMENT.key}"
        self._attr_device_info = server_device_info(entry.entry_id)
        self._attr_extra_state_attributes = {"folder": f"{DOMAIN}/documents"}

    @property
    def available(self) -> bool:
        """Return whether the server is reachable (it writes the documents)."""
        return self._entry.runtime_data.store.connected

    async def async_added_to_hass(self) -> None:
        """Follow the connection to the server."""
        await super().async_added_to_hass()
        store = self._entry.runtime_data.store
        self.async_on_remove(store.async_subscribe(None, None, self.async_write_ha_state))

    async def async_press(self) -> None:
        """Write the documents into <config>/vigil/documents, as the action does.

        The press runs the action with the presser's context, so the same checks apply
        (administrators only) and the server's access log names the same person.
        """
        await self.hass.services.async_call(
            DOMAIN,
            SERVICE_GENERATE_IMPACT_ASSESSMENT,
            {CONF_REASON: "button", ATTR_SERVER: self._entry.entry_id},
            blocking=True,
            context=self._context,
            return_response=True,
        )
