"""Buttons: the hub's impact assessment; each camera's re-capture of its reference view."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .data import VigilConfigEntry
from .privacy import async_generate_documents, async_require_admin
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
    """Add the hub's impact assessment button and the cameras' re-capture buttons."""
    async_add_entities([VigilAssessmentButton(entry)])
    async_setup_tamper_buttons(entry, async_add_entities)


class VigilAssessmentButton(ButtonEntity):
    """Generate the privacy documents from the live configuration (administrators only)."""

    _attr_has_entity_name = True
    entity_description = IMPACT_ASSESSMENT

    def __init__(self, entry: VigilConfigEntry) -> None:
        """Attach the button to the hub device."""
        self._entry = entry
        self._attr_unique_id = f"{entry.entry_id}_{IMPACT_ASSESSMENT.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})
        self._attr_extra_state_attributes = {"folder": f"{DOMAIN}/documents"}

    async def async_press(self) -> None:
        """Write the documents into <config>/vigil/documents."""
        actor = await async_require_admin(self.hass, self._context or Context())
        await async_generate_documents(self.hass, self._entry, actor, "button")
