"""Lawful by design in Home Assistant: context, gated flows, access log, retention, documents.

The rules live in `vigil_core.privacy`; this module maps them onto Home Assistant: the
deployment context is in the hub entry's data, retention and the controller in its options,
and each acknowledgement in the subentry whose detector needed it. Who did something comes
from the service call's user; flows carry no user (only administrators can open them), so an
acknowledgement records the name the person types, and a settings change is recorded as done
by an administrator in the settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.exceptions import ServiceValidationError, Unauthorized, UnknownUser
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.selector import (
    BooleanSelector,
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
from homeassistant.util.async_ import run_callback_threadsafe
from homeassistant.util.hass_dict import HassKey
from pydantic import ValidationError
import voluptuous as vol

from vigil_core.config import EngineConfig
from vigil_core.privacy.access_log import AccessAction, AccessLog, Actor, Json, load_or_create_key
from vigil_core.privacy.assessment import WrittenDocument, write_documents
from vigil_core.privacy.context import (
    JUSTIFICATION_MIN_CHARS,
    Acknowledgement,
    ControllerSpec,
    DeploymentContext,
    LegalBasis,
    PrivacySpec,
    Violation,
    detector_key,
    needs_acknowledgement,
)
from vigil_core.privacy.inventory import enforce_context
from vigil_core.privacy.purposes import DetectorKind
from vigil_core.privacy.retention import (
    RETENTION,
    Artefact,
    DirectoryStore,
    RetentionRegistry,
    RetentionSpec,
)
from vigil_core.privacy.summary import LANGUAGES, LogStatus, ProcessingSummary, Recipient, Texts

from .const import (
    CONF_ACKNOWLEDGED_BY,
    CONF_ACKNOWLEDGEMENTS,
    CONF_CHANGE_REASON,
    CONF_CONFIRM,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_JUSTIFICATION,
    CONF_LEGAL_BASIS,
    CONF_RETENTION,
    CORE_VERSION,
    DOMAIN,
    PURGE_INTERVAL,
)
from .engine_config import CameraInfo, ZoneInfo, build_engine_config, configured, slug_id

if TYPE_CHECKING:
    from vigil_core.engine import Engine

    from .data import VigilConfigEntry

_LOGGER = logging.getLogger(__name__)

DATA_ACCESS_LOG: HassKey[AccessLog] = HassKey(f"{DOMAIN}_access_log")
ISSUE_PREFIX = "privacy_"
CONTEXT_ISSUE_ID = "privacy_context_missing"
FIRST_PURGE_DELAY_S = 300.0
SETTINGS_ACTOR = Actor(user_id=None, name="settings (administrator)", is_admin=True)
AUTOMATION_ACTOR = Actor(user_id=None, name="automation", is_admin=True)


# --- where things are kept ---------------------------------------------------------------------


def config_path(hass: HomeAssistant, *parts: str) -> Path:
    """Return a path in Home Assistant's configuration folder (tests point it elsewhere)."""
    return Path(hass.config.path(*parts))


def storage_dir(hass: HomeAssistant) -> Path:
    """Return where the access log and its key live (hidden from the file editor)."""
    return config_path(hass, ".storage", DOMAIN)


def output_dir(hass: HomeAssistant) -> Path:
    """Return where exports and generated documents are written for the controller."""
    return config_path(hass, DOMAIN)


# --- reading the entry -------------------------------------------------------------------------


def deployment_context(entry: ConfigEntry) -> DeploymentContext | None:
    """Return the hub's deployment context, or None when none was declared."""
    try:
        return DeploymentContext(str(entry.data.get(CONF_DEPLOYMENT_CONTEXT)))
    except ValueError:
        return None


def retention_spec(options: Mapping[str, Any]) -> RetentionSpec:
    """Return the retention set in the hub's options (defaults for what is not set)."""
    try:
        return RetentionSpec.model_validate(dict(options.get(CONF_RETENTION) or {}))
    except ValidationError:
        _LOGGER.warning("Vigil's retention settings are invalid; using the defaults")
        return RetentionSpec()


def controller_spec(options: Mapping[str, Any]) -> ControllerSpec:
    """Return the controller written in the hub's options."""
    raw = {k: str(v).strip() for k, v in dict(options.get(CONF_CONTROLLER) or {}).items()}
    try:
        return ControllerSpec.model_validate(raw)
    except ValidationError:
        return ControllerSpec()


def acknowledgements(entry: ConfigEntry) -> dict[str, Acknowledgement]:
    """Return every acknowledgement stored in the entry, by detector key.

    A subentry keeps those of the detectors it runs (a zone's, a camera's plate reading);
    the hub's options keep those of hub-wide detectors (plate searches, vehicle routes).
    """
    found: dict[str, Acknowledgement] = {}
    sources: list[tuple[str | None, str, Mapping[str, Any]]] = [
        (None, entry.title, entry.options.get(CONF_ACKNOWLEDGEMENTS) or {})
    ]
    sources += [
        (slug_id(sub.subentry_id), sub.title, sub.data.get(CONF_ACKNOWLEDGEMENTS) or {})
        for sub in entry.subentries.values()
    ]
    for scope, title, stored in sources:
        for kind, raw in dict(stored).items():
            try:
                ack = Acknowledgement.model_validate(raw)
            except ValidationError:
                _LOGGER.warning("Ignoring a damaged acknowledgement in %s", title)
                continue
            if ack.detector.value == kind:
                found[detector_key(ack.detector, scope)] = ack
    return found


def privacy_spec(entry: ConfigEntry) -> PrivacySpec:
    """Return the engine's privacy settings from the entry."""
    return PrivacySpec(
        context=deployment_context(entry),
        acknowledgements=acknowledgements(entry),
        retention=retention_spec(entry.options),
        controller=controller_spec(entry.options),
    )


def engine_config(
    entry: ConfigEntry,
    cameras: Mapping[str, CameraInfo],
    zones: Mapping[str, ZoneInfo],
    models_dir: Path | None,
) -> EngineConfig:
    """Return the engine configuration with the entry's privacy settings."""
    config = build_engine_config(entry, cameras, zones, models_dir)
    return config.model_copy(update={"privacy": privacy_spec(entry)})


def gated_engine_config(
    entry: ConfigEntry,
    cameras: Mapping[str, CameraInfo],
    zones: Mapping[str, ZoneInfo],
    models_dir: Path | None,
) -> tuple[EngineConfig, dict[str, ZoneInfo], list[Violation]]:
    """Return the configuration the context lets run, the zones left, and what was held back."""
    config, violations = enforce_context(engine_config(entry, cameras, zones, models_dir))
    running = {zone.id for camera in config.cameras for zone in camera.zones}
    kept = {rule_id: zone for rule_id, zone in zones.items() if rule_id in running}
    return config, kept, violations


# Read both languages' texts now, at import (in the executor), never on the event loop.
_LOADED_TEXTS = [Texts(language).keys() for language in LANGUAGES]


def texts(hass: HomeAssistant) -> Texts:
    """Return the privacy texts in Home Assistant's language (French or English)."""
    return Texts("fr" if hass.config.language.lower().startswith("fr") else "en")


# --- who acts, and the log ---------------------------------------------------------------------


class AdminRequired(Unauthorized):
    """A sensitive action was asked by a user who is not an administrator."""

    def __init__(self, context: Context) -> None:
        """Carry the translation of the refusal."""
        super().__init__(context=context, permission="admin")
        self.translation_domain = DOMAIN
        self.translation_key = "admin_required"
        self.generate_message = True
        self.args = ("admin_required",)


async def async_actor(hass: HomeAssistant, context: Context) -> Actor:
    """Return who is behind a call: its user, or an automation when there is none."""
    if context.user_id is None:
        return AUTOMATION_ACTOR
    user = await hass.auth.async_get_user(context.user_id)
    if user is None:
        raise UnknownUser(context=context)
    return Actor(user_id=user.id, name=user.name or user.id, is_admin=user.is_admin)


async def async_require_admin(hass: HomeAssistant, context: Context) -> Actor:
    """Return the administrator behind a call; refuse anyone else (sensitive actions).

    Calls without a user (automations, scripts run by Home Assistant itself) are allowed
    and logged as such, as Home Assistant's own admin services do.
    """
    actor = await async_actor(hass, context)
    if not actor.is_admin:
        raise AdminRequired(context)
    return actor


async def async_access_log(hass: HomeAssistant) -> AccessLog:
    """Return the integration's access log, loading its key the first time."""
    if (log := hass.data.get(DATA_ACCESS_LOG)) is not None:
        return log
    folder = storage_dir(hass)
    key = await hass.async_add_executor_job(load_or_create_key, folder / "access_log.key")
    return hass.data.setdefault(DATA_ACCESS_LOG, AccessLog(folder / "access_log.jsonl", key=key))


async def async_log(
    hass: HomeAssistant,
    actor: Actor,
    action: AccessAction,
    *,
    target: str = "",
    reason: str = "",
    details: Mapping[str, Json] | None = None,
) -> dict[str, Json]:
    """Append one entry to the access log (in the executor) and return it."""
    log = await async_access_log(hass)
    return await hass.async_add_executor_job(
        lambda: log.append(actor, action, target=target, reason=reason, details=details)
    )


async def async_log_context_change(
    hass: HomeAssistant,
    old: DeploymentContext | None,
    new: DeploymentContext,
    reason: str,
) -> None:
    """Record a deployment context chosen or changed in the settings."""
    await async_log(
        hass,
        SETTINGS_ACTOR,
        AccessAction.CONTEXT_CHANGE,
        target=DOMAIN,
        reason=reason,
        details={"from": old.value if old else None, "to": new.value},
    )


async def async_log_retention_change(
    hass: HomeAssistant, old: Mapping[str, Any], new: Mapping[str, Any], reason: str
) -> None:
    """Record retention settings changed in the options, when they changed."""
    changes = retention_spec(old).changes(retention_spec(new))
    if changes:
        await async_log(
            hass,
            SETTINGS_ACTOR,
            AccessAction.RETENTION_CHANGE,
            target=DOMAIN,
            reason=reason,
            details={k: {"from": a, "to": b} for k, (a, b) in changes.items()},
        )


# --- the runtime: retention purge and repairs ---------------------------------------------------


@dataclass(slots=True)
class PrivacyRuntime:
    """The access log, the retention registry and what the context holds back."""

    log: AccessLog
    retention: RetentionRegistry
    violations: list[Violation] = field(default_factory=list)


async def async_setup_privacy(
    hass: HomeAssistant, entry: VigilConfigEntry, engine: Engine, violations: list[Violation]
) -> PrivacyRuntime:
    """Register the stores to purge, schedule the purge and raise the repair issues."""
    log = await async_access_log(hass)
    registry: RetentionRegistry = engine.retention
    folder = output_dir(hass)
    for store in (
        log,
        RecorderHistory(hass, entry.entry_id),
        DirectoryStore(Artefact.EXPORTS, folder / "exports", name="access_log_exports"),
        DirectoryStore(Artefact.EXPORTS, folder / "documents", name="documents"),
        DirectoryStore(Artefact.SNAPSHOTS, folder / "snapshots", name="snapshots"),
        DirectoryStore(Artefact.CROPS, folder / "crops", name="crops"),
    ):
        entry.async_on_unload(registry.register(store))
    runtime = PrivacyRuntime(log=log, retention=registry, violations=violations)

    async def _async_purge(_now: datetime) -> None:
        await async_purge(hass, entry, runtime)

    entry.async_on_unload(async_call_later(hass, FIRST_PURGE_DELAY_S, _async_purge))
    entry.async_on_unload(async_track_time_interval(hass, _async_purge, PURGE_INTERVAL))
    async_update_privacy_issues(hass, entry, violations)
    return runtime


async def async_purge(hass: HomeAssistant, entry: ConfigEntry, runtime: PrivacyRuntime) -> None:
    """Purge every registered store (in the executor)."""
    await hass.async_add_executor_job(runtime.retention.purge)


@dataclass(frozen=True, slots=True)
class RecorderHistory:
    """Vigil's entity history in Home Assistant's recorder, purged by `recorder.purge_entities`."""

    hass: HomeAssistant
    entry_id: str

    artefact = Artefact.EVENTS
    name = "recorder_history"

    def purge(self, before: datetime) -> int:
        """Ask the recorder to drop the history of Vigil's entities older than `before`.

        The recorder purges in its own thread and does not say how many rows went, so this
        returns 0. Runs in the executor, like every store's purge.
        """
        keep_days = max(0, (dt_util.utcnow() - before).days)
        run_callback_threadsafe(self.hass.loop, self._async_request, keep_days).result()
        return 0

    @callback
    def _async_request(self, keep_days: int) -> None:
        if not self.hass.services.has_service("recorder", "purge_entities"):
            return
        registry = er.async_get(self.hass)
        entity_ids = [
            e.entity_id for e in er.async_entries_for_config_entry(registry, self.entry_id)
        ]
        if entity_ids:
            self.hass.async_create_task(
                self.hass.services.async_call(
                    "recorder",
                    "purge_entities",
                    {"entity_id": entity_ids, "keep_days": keep_days},
                    blocking=False,
                ),
                "vigil_recorder_purge",
            )


def _issue_id(violation: Violation) -> str:
    return ISSUE_PREFIX + violation.key.replace(":", "_")


@callback
def async_update_privacy_issues(
    hass: HomeAssistant, entry: ConfigEntry, violations: Iterable[Violation]
) -> None:
    """Raise one issue per held-back detector (and one without a context); clear the rest."""
    wanted: set[str] = set()
    t = texts(hass)
    context = deployment_context(entry)
    if context is None:
        wanted.add(CONTEXT_ISSUE_ID)
        ir.async_create_issue(
            hass,
            DOMAIN,
            CONTEXT_ISSUE_ID,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="context_missing",
        )
    cameras = {camera.camera_id: camera.name for camera in configured(entry)[0].values()}
    for violation in violations:
        issue_id = _issue_id(violation)
        wanted.add(issue_id)
        detector = violation.detector
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="detector_held_back",
            translation_placeholders={
                "name": detector.name or t(f"detector.{detector.kind.value}"),
                "detector": t(f"detector.{detector.kind.value}"),
                "camera": cameras.get(detector.camera_id or "", "-"),
                "context": t.context(violation.context),
            },
        )
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(ISSUE_PREFIX) and issue_id not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue_id)


# --- services' plumbing -------------------------------------------------------------------------


def loaded_entry(hass: HomeAssistant) -> VigilConfigEntry:
    """Return the loaded hub entry, or refuse the call."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            return entry
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


async def async_summary(hass: HomeAssistant, entry: ConfigEntry) -> ProcessingSummary:
    """Read the live configuration, users and access log into a processing summary."""
    cameras, zones = configured(entry)
    config = engine_config(entry, cameras, zones, None)
    users = [u for u in await hass.auth.async_get_users() if not u.system_generated and u.is_active]
    admins = sum(1 for user in users if user.is_admin)
    log = await async_access_log(hass)
    check = await hass.async_add_executor_job(log.verify)
    return ProcessingSummary.from_config(
        config,
        generated_at=dt_util.now(),
        version=CORE_VERSION or "dev",
        recipients=[
            Recipient("ha_administrators", admins),
            Recipient("ha_users", len(users) - admins),
        ],
        access_log=LogStatus(entries=check.entries, ok=check.ok, head=check.head),
        admin_only_services=True,
    )


async def async_generate_documents(
    hass: HomeAssistant, entry: ConfigEntry, actor: Actor, reason: str = ""
) -> list[WrittenDocument]:
    """Write the impact assessment, the record and the signs, and log that it was done."""
    await async_log(hass, actor, AccessAction.ASSESSMENT, target="documents", reason=reason)
    summary = await async_summary(hass, entry)
    folder = output_dir(hass) / "documents"
    return await hass.async_add_executor_job(write_documents, summary, folder)


async def async_privacy_diagnostics(hass: HomeAssistant, entry: VigilConfigEntry) -> dict[str, Any]:
    """Return the context, acknowledgements, retention and access log state for diagnostics."""
    runtime = entry.runtime_data.privacy
    spec = privacy_spec(entry)
    result: dict[str, Any] = {
        "context": spec.context.value if spec.context else None,
        "acknowledgements": {
            key: {"legal_basis": ack.legal_basis.value, "at": ack.at.isoformat()}
            for key, ack in sorted(spec.acknowledgements.items())
        },
        "controller_set": bool(spec.controller.name and spec.controller.contact),
    }
    if runtime is None:
        return result
    check = await hass.async_add_executor_job(runtime.log.verify)
    return result | {
        "held_back": sorted(v.key for v in runtime.violations),
        "retention": runtime.retention.describe(),
        "access_log": {
            "entries": check.entries,
            "ok": check.ok,
            "first_broken": check.first_broken,
        },
    }


# --- the hub's flows: context, retention, controller -------------------------------------------

CONTEXT_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[context.value for context in DeploymentContext],
        mode=SelectSelectorMode.LIST,
        translation_key=CONF_DEPLOYMENT_CONTEXT,
    )
)
CONTEXT_SCHEMA = vol.Schema({vol.Required(CONF_DEPLOYMENT_CONTEXT): CONTEXT_SELECTOR})
"""The hub flow's context step: no default, the person chooses."""

RECONFIGURE_FIELDS: dict[vol.Marker, Any] = {
    vol.Required(CONF_DEPLOYMENT_CONTEXT): CONTEXT_SELECTOR,
    vol.Optional(CONF_CHANGE_REASON): TextSelector(),
}
"""Fields the hub's reconfigure form adds: the context and why it changes."""

CONTROLLER_FIELDS = ("name", "contact", "dpo_contact")

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
}
"""The options form's privacy sections: retention per artefact, and the controller."""


def hub_context_data(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the context to store in the hub's data."""
    return {CONF_DEPLOYMENT_CONTEXT: DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT]).value}


def context_change_errors(entry: ConfigEntry, user_input: Mapping[str, Any]) -> dict[str, str]:
    """Refuse a context change that gives no reason (the access log records it)."""
    changed = deployment_context(entry) != DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT])
    if changed and not str(user_input.get(CONF_CHANGE_REASON) or "").strip():
        return {CONF_CHANGE_REASON: "reason_required"}
    return {}


async def async_log_context_chosen(hass: HomeAssistant, user_input: Mapping[str, Any]) -> None:
    """Record the context chosen when the hub is set up."""
    context = DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT])
    await async_log_context_change(hass, None, context, "hub set up")


async def async_log_reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, user_input: Mapping[str, Any]
) -> None:
    """Record the context chosen in the reconfigure flow, when it changed."""
    new = DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT])
    old = deployment_context(entry)
    if new != old:
        reason = str(user_input.get(CONF_CHANGE_REASON) or "").strip()
        await async_log_context_change(hass, old, new, reason)


def options_suggestions(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the privacy sections' current values for the options form."""
    return {
        CONF_RETENTION: retention_spec(options).model_dump(),
        CONF_CONTROLLER: controller_spec(options).model_dump(),
    }


async def async_privacy_options(
    hass: HomeAssistant, old: Mapping[str, Any], user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the options to save with clean privacy sections; log a retention change."""
    options = dict(user_input)
    if CONF_RETENTION in options:
        raw = dict(options[CONF_RETENTION])
        reason = str(raw.pop(CONF_CHANGE_REASON, "") or "").strip()
        options[CONF_RETENTION] = RetentionSpec.model_validate(
            {key: int(value) for key, value in raw.items()}
        ).model_dump()
        await async_log_retention_change(hass, old, options, reason)
    if CONF_CONTROLLER in options:
        options[CONF_CONTROLLER] = controller_spec(options).model_dump()
    return options


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
    missing: list[DetectorKind]
    kept: dict[str, Any]
    finish: Finish


class PrivacyGate(ConfigSubentryFlow):
    """Ask for a legal basis before a subentry saves a detector its context starts disabled.

    When a flow is ready to save, it calls `await self.async_gate(kinds, finish)` with the
    detector kinds the subentry will run. Without a gated kind (or with every acknowledgement
    already stored, on reconfigure), `finish(acknowledgements)` runs at once; otherwise the
    `acknowledge` step asks for the legal basis, a justification, a name and a confirmation,
    writes them to the access log and then calls `finish`. `finish` stores the mapping it
    receives under CONF_ACKNOWLEDGEMENTS in the subentry's data (it is empty when nothing is
    gated). The flow's translations need the `acknowledge` step and the errors
    `justification_too_short` and `confirm_required`.
    """

    _gate_pending: _Pending | None = None

    async def async_gate(self, kinds: Iterable[DetectorKind], finish: Finish) -> SubentryFlowResult:
        """Continue to `finish`, through the acknowledge step when the context requires it."""
        gated = needs_acknowledgement(deployment_context(self._get_entry()), kinds)
        stored: dict[str, Any] = {}
        if self.source == SOURCE_RECONFIGURE:
            stored = dict(self._get_reconfigure_subentry().data.get(CONF_ACKNOWLEDGEMENTS) or {})
        kept: dict[str, Any] = {
            kind.value: stored[kind.value] for kind in gated if kind.value in stored
        }
        missing = [kind for kind in gated if kind.value not in kept]
        if not missing:
            return await finish(kept)
        self._gate_pending = _Pending(missing, kept, finish)
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
        t = texts(self.hass)
        return self.async_show_form(
            step_id="acknowledge",
            data_schema=self.add_suggested_values_to_schema(ACKNOWLEDGE_SCHEMA, user_input or {}),
            errors=errors,
            description_placeholders={
                "detectors": ", ".join(t(f"detector.{kind.value}") for kind in pending.missing),
                "context": t.context(context),
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
        at = dt_util.utcnow()
        acks = {
            kind.value: Acknowledgement(
                detector=kind,
                legal_basis=basis,
                justification=justification,
                by=by,
                at=at,
                context=context,
            ).model_dump(mode="json")
            for kind in pending.missing
        }
        await async_log(
            self.hass,
            Actor(user_id=None, name=by, is_admin=True),
            AccessAction.ACKNOWLEDGEMENT,
            target=", ".join(kind.value for kind in pending.missing),
            reason=justification,
            details={"legal_basis": basis.value, "context": context.value},
        )
        self._gate_pending = None
        return await pending.finish({**pending.kept, **acks})
