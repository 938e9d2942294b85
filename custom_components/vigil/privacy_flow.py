"""Lawful by design in the forms: retention, controller and paperwork options, the privacy gate.

The deployment context is in the server entry's data, retention, the controller and the
paperwork (impact assessment, authorisation, signs) in its options, and each acknowledgement in
the subentry whose detector needed it. The server holds
the rules (what a context lets each detector do) and the access log: the gate asks it which
detectors need an acknowledgement, and writes the acknowledgement to its log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)
from homeassistant.util import dt as dt_util
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.privacy import (
    JUSTIFICATION_MIN_CHARS,
    RETENTION,
    Artefact,
    DeploymentContext,
    LegalBasis,
)

from .access import SETTINGS_ACTOR
from .const import (
    CONF_ACKNOWLEDGED_BY,
    CONF_ACKNOWLEDGEMENTS,
    CONF_CHANGE_REASON,
    CONF_CONFIRM,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_JUSTIFICATION,
    CONF_LEGAL_BASIS,
    CONF_PAPERWORK,
    CONF_RETENTION,
)

_LOGGER = logging.getLogger(__name__)

CONTROLLER_FIELDS = ("name", "contact", "dpo_contact")
PAPERWORK_REFERENCES = ("assessment_reference", "authorisation_reference")
PAPERWORK_DATE = "assessment_date"
PAPERWORK_SIGNS = "signs_posted"
PAPERWORK_REFERENCE_MAX_CHARS = 200
"""The server's limit on a reference (its PaperworkSpec)."""

_RETENTION_FIELDS: dict[vol.Marker, Any] = {
    vol.Required(artefact.value, default=bounds.default_days): NumberSelector(
        NumberSelectorConfig(
            min=bounds.min_days,
            max=bounds.max_days,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="d",
        )
    )
    for artefact, bounds in RETENTION.items()
}

OPTIONS_SECTIONS: dict[vol.Marker, Any] = {
    vol.Optional(CONF_RETENTION): section(
        vol.Schema({**_RETENTION_FIELDS, vol.Optional(CONF_CHANGE_REASON): TextSelector()}),
        {"collapsed": True},
    ),
    vol.Optional(CONF_CONTROLLER): section(
        vol.Schema({vol.Optional(key): TextSelector() for key in CONTROLLER_FIELDS}),
        {"collapsed": True},
    ),
    vol.Optional(CONF_PAPERWORK): section(
        vol.Schema(
            {
                vol.Optional(PAPERWORK_REFERENCES[0]): TextSelector(),
                vol.Optional(PAPERWORK_DATE): DateSelector(),
                vol.Optional(PAPERWORK_REFERENCES[1]): TextSelector(),
                vol.Optional(PAPERWORK_SIGNS, default=False): BooleanSelector(),
                vol.Optional(CONF_CHANGE_REASON): TextSelector(),
            }
        ),
        {"collapsed": True},
    ),
}
"""The options form's privacy sections: retention per artefact, the controller, the paperwork."""


def deployment_context(entry: ConfigEntry[Any]) -> DeploymentContext | None:
    """Return the server entry's deployment context, or None when none was declared."""
    try:
        return DeploymentContext(str(entry.data.get(CONF_DEPLOYMENT_CONTEXT)))
    except ValueError:
        return None


def retention_days(options: Mapping[str, Any]) -> dict[str, int]:
    """Return the retention per artefact in days (defaults, clamped to each artefact's range).

    Plate hashes are kept no longer than plate texts (the server refuses otherwise: a keyed
    hash finds a plate as surely as its text), so an older entry's 30 days of hashes become
    the plate texts' days.
    """
    stored = dict(options.get(CONF_RETENTION) or {})
    days = {}
    for artefact, bounds in RETENTION.items():
        try:
            value = int(stored.get(artefact.value, bounds.default_days))
        except (TypeError, ValueError):
            value = bounds.default_days
        days[artefact.value] = min(max(value, bounds.min_days), bounds.max_days)
    hashes, reads = Artefact.PLATE_HASHES.value, Artefact.PLATE_READS.value
    days[hashes] = min(days[hashes], days[reads])
    return days


def controller(options: Mapping[str, Any]) -> dict[str, str]:
    """Return the controller written in the options."""
    raw = dict(options.get(CONF_CONTROLLER) or {})
    return {key: str(raw.get(key) or "").strip() for key in CONTROLLER_FIELDS}


def paperwork(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the paperwork written in the options (the date as ISO text, None when unset)."""
    raw = dict(options.get(CONF_PAPERWORK) or {})
    clean: dict[str, Any] = {key: str(raw.get(key) or "").strip() for key in PAPERWORK_REFERENCES}
    clean[PAPERWORK_DATE] = _iso_date(raw.get(PAPERWORK_DATE))
    clean[PAPERWORK_SIGNS] = bool(raw.get(PAPERWORK_SIGNS, False))
    return clean


def _iso_date(value: Any) -> str | None:
    try:
        return date.fromisoformat(str(value)).isoformat() if value else None
    except ValueError:
        return None


def options_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the options form's errors (a reference longer than the server accepts)."""
    raw = dict(user_input.get(CONF_PAPERWORK) or {})
    lengths = [len(str(raw.get(key) or "").strip()) for key in PAPERWORK_REFERENCES]
    return {"base": "reference_too_long"} if max(lengths) > PAPERWORK_REFERENCE_MAX_CHARS else {}


def options_suggestions(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the privacy sections' current values for the options form."""
    return {
        CONF_RETENTION: retention_days(options),
        CONF_CONTROLLER: controller(options),
        CONF_PAPERWORK: {k: v for k, v in paperwork(options).items() if v is not None},
    }


async def async_privacy_options(
    hass: HomeAssistant, entry: ConfigEntry[Any], user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the options to save with clean privacy sections; log retention, paperwork changes."""
    options = dict(user_input)
    if CONF_RETENTION in options:
        raw = dict(options[CONF_RETENTION])
        reason = str(raw.pop(CONF_CHANGE_REASON, "") or "").strip()
        options[CONF_RETENTION] = retention_days({CONF_RETENTION: raw})
        old = retention_days(entry.options)
        changes = {k: [old[k], v] for k, v in options[CONF_RETENTION].items() if old[k] != v}
        if changes:
            await async_record(
                entry,
                vp.RecordAccess(
                    actor=SETTINGS_ACTOR,
                    action="retention_change",
                    target="retention",
                    reason=reason,
                    details={key: list(pair) for key, pair in changes.items()},
                ),
            )
    if CONF_CONTROLLER in options:
        options[CONF_CONTROLLER] = controller(options)
    if CONF_PAPERWORK in options:
        raw = dict(options[CONF_PAPERWORK])
        reason = str(raw.pop(CONF_CHANGE_REASON, "") or "").strip()
        new = options[CONF_PAPERWORK] = paperwork({CONF_PAPERWORK: raw})
        await _async_record_paperwork(entry, paperwork(entry.options), new, reason)
    return options


async def _async_record_paperwork(
    entry: ConfigEntry[Any], old: Mapping[str, Any], new: Mapping[str, Any], reason: str
) -> None:
    """Write a change of the paperwork to the server's access log (the fields, before and after)."""
    changes = {key: [old[key], value] for key, value in new.items() if old[key] != value}
    if changes:
        await async_record(
            entry,
            vp.RecordAccess(
                actor=SETTINGS_ACTOR,
                action="paperwork_change",
                target=CONF_PAPERWORK,
                reason=reason,
                details={key: list(pair) for key, pair in changes.items()},
            ),
        )


async def async_record(entry: ConfigEntry[Any], record: vp.RecordAccess) -> None:
    """Write an access to the server's log when the entry is loaded (else log a warning)."""
    runtime = getattr(entry, "runtime_data", None)
    store = getattr(runtime, "store", None)
    if store is None or not store.connected:
        _LOGGER.warning("Vigil server %s unreachable: %s not logged", entry.title, record.action)
        return
    await store.client.call(record, vp.Done)


# --- the gate in subentry flows ---------------------------------------------------------------

type Finish = Callable[[dict[str, Any]], Awaitable[SubentryFlowResult]]

ACKNOWLEDGE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_LEGAL_BASIS): SelectSelector(
            SelectSelectorConfig(
                options=[basis.value for basis in LegalBasis],
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_LEGAL_BASIS,
            )
        ),
        vol.Required(CONF_JUSTIFICATION): TextSelector(TextSelectorConfig(multiline=True)),
        vol.Required(CONF_ACKNOWLEDGED_BY): TextSelector(),
        vol.Required(CONF_CONFIRM, default=False): BooleanSelector(),
    }
)


@dataclass(slots=True)
class _Pending:
    missing: list[str]
    kept: dict[str, Any]
    finish: Finish
    names: dict[str, str]


class PrivacyGate(ConfigSubentryFlow):
    """Ask for a legal basis before a subentry saves a detector its context starts disabled.

    When a flow is ready to save, it calls `await self.async_gate(kinds, finish)` with the
    detector kinds the subentry will run. The server says which of them the context gates;
    when none is gated (or every acknowledgement is already stored, on reconfigure),
    `finish(acknowledgements)` runs at once. With no context declared, the server gates as a
    private home does, but nobody states a legal basis against a context that is not known:
    the subentry is saved without it, the server holds the detector back and the repair issues
    ask for the context (the acknowledgement is asked once one is declared). Otherwise the
    `acknowledge` step asks for the legal basis, a justification, a name and a confirmation,
    writes them to the server's access log and then calls `finish`. `finish` stores the
    mapping it receives under CONF_ACKNOWLEDGEMENTS in the subentry's data (empty when nothing
    is gated). The flow's translations need the `acknowledge` step and the errors
    `justification_too_short`, `name_required` and `confirm_required`.
    """

    _gate_pending: _Pending | None = None

    async def async_gate(self, kinds: Iterable[str], finish: Finish) -> SubentryFlowResult:
        """Continue to `finish`, through the acknowledge step when the context requires it."""
        entry = self._get_entry()
        context = deployment_context(entry)
        verdict = await entry.runtime_data.store.async_request(
            vp.CheckPrivacy(
                context=context.value if context else None,
                detectors=tuple(dict.fromkeys(kinds)),
                language="fr" if self.hass.config.language.lower().startswith("fr") else "en",
            ),
            vp.PrivacyVerdict,
        )
        stored: dict[str, Any] = {}
        if self.source == SOURCE_RECONFIGURE:
            stored = dict(self._get_reconfigure_subentry().data.get(CONF_ACKNOWLEDGEMENTS) or {})
        kept = {kind: stored[kind] for kind in verdict.acknowledge if kind in stored}
        missing = [kind for kind in verdict.acknowledge if kind not in kept]
        if not missing or context is None:
            return await finish(kept)
        self._gate_pending = _Pending(missing, kept, finish, dict(verdict.names))
        return await self.async_step_acknowledge()

    async def async_step_acknowledge(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """State the legal basis and the necessity of the gated detectors, and sign it."""
        pending = self._gate_pending
        assert pending is not None
        context = deployment_context(self._get_entry())
        assert context is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            justification = str(user_input.get(CONF_JUSTIFICATION, "")).strip()
            by = str(user_input.get(CONF_ACKNOWLEDGED_BY, "")).strip()
            if len(justification) < JUSTIFICATION_MIN_CHARS:
                errors[CONF_JUSTIFICATION] = "justification_too_short"
            elif not by:
                errors[CONF_ACKNOWLEDGED_BY] = "name_required"
            elif not user_input.get(CONF_CONFIRM):
                errors[CONF_CONFIRM] = "confirm_required"
            else:
                return await self._async_acknowledged(
                    pending, context, LegalBasis(user_input[CONF_LEGAL_BASIS]), justification, by
                )
        return self.async_show_form(
            step_id="acknowledge",
            data_schema=self.add_suggested_values_to_schema(ACKNOWLEDGE_SCHEMA, user_input or {}),
            errors=errors,
            description_placeholders={
                "detectors": ", ".join(pending.names.get(kind, kind) for kind in pending.missing),
                "context": pending.names.get("context", context.value),
            },
        )

    async def _async_acknowledged(
        self,
        pending: _Pending,
        context: DeploymentContext,
        basis: LegalBasis,
        justification: str,
        by: str,
    ) -> SubentryFlowResult:
        at = dt_util.utcnow().isoformat()
        acks = {
            kind: {
                "detector": kind,
                "legal_basis": basis.value,
                "justification": justification,
                "by": by,
                "at": at,
                "context": context.value,
            }
            for kind in pending.missing
        }
        await async_record(
            self._get_entry(),
            vp.RecordAccess(
                actor=vp.Actor(name=by, is_admin=True),
                action="acknowledgement",
                target=", ".join(pending.missing),
                reason=justification,
                details={"legal_basis": basis.value, "context": context.value},
            ),
        )
        self._gate_pending = None
        return await pending.finish({**pending.kept, **acks})
