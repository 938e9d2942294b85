"""Deployment context: where the cameras are, and what that lets each detector do.

A private home, private premises (a shop, a car park, a company site) or a public space. The
context is chosen when the hub is set up; `check_configuration` compares what is enabled with
what the context allows (the flows gate on it, the repair issue reports it, the engine leaves
out what is not acknowledged), and `anonymise` turns the events of a statistics-only detector
into counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from vigil_core.events.model import RuleEvent
from vigil_core.privacy.purposes import CAMERA_SIDE_KINDS, PURPOSES, VIGIL_SOURCE, Allowance
from vigil_core.privacy.retention import RetentionSpec
from vigil_core.specs import Spec
from vigil_protocol.privacy import (
    JUSTIFICATION_MIN_CHARS,
    DeploymentContext,
    DetectorKind,
    LegalBasis,
    Paperwork,
)


class Acknowledgement(Spec):
    """Someone enabled a gated detector and wrote down why it is lawful and necessary."""

    detector: DetectorKind
    legal_basis: LegalBasis
    justification: Annotated[
        str,
        Field(
            min_length=JUSTIFICATION_MIN_CHARS,
            max_length=2000,
            description="Why this analysis is necessary here, in the controller's words.",
        ),
    ]
    by: Annotated[str, Field(min_length=1, max_length=120, description="Who acknowledged.")]
    at: datetime
    context: DeploymentContext


class ControllerSpec(Spec):
    """Who is responsible for the processing, as written on the signs and in the records."""

    name: Annotated[str, Field(max_length=200)] = ""
    contact: Annotated[
        str, Field(max_length=300, description="Where people exercise their rights.")
    ] = ""
    dpo_contact: Annotated[
        str, Field(max_length=300, description="Data protection officer, if any.")
    ] = ""


class PaperworkSpec(Spec):
    """The paperwork of the processing: the impact assessment, the authorisation, the signs."""

    assessment_reference: Annotated[
        str,
        Field(max_length=200, description="Reference of the data protection impact assessment."),
    ] = ""
    assessment_date: Annotated[
        date | None, Field(description="Date the impact assessment was adopted.")
    ] = None
    authorisation_reference: Annotated[
        str,
        Field(
            max_length=200,
            description="Reference of the authorisation to film (a public space needs one).",
        ),
    ] = ""
    signs_posted: Annotated[
        bool, Field(description="Signs informing people are posted at every camera.")
    ] = False


class PrivacySpec(Spec):
    """The context, the acknowledgements given, the retention, the controller, the paperwork."""

    context: Annotated[
        DeploymentContext | None,
        Field(
            description=(
                "Where the cameras are; none (the CLI's default) gates as a private home does "
                "(fail closed)."
            )
        ),
    ] = None
    acknowledgements: Annotated[
        dict[str, Acknowledgement],
        Field(description="By detector key: `<rule id, camera id or hub>:<detector kind>`."),
    ] = Field(default_factory=dict)
    retention: RetentionSpec = RetentionSpec()
    controller: ControllerSpec = ControllerSpec()
    paperwork: PaperworkSpec = PaperworkSpec()


def missing_paperwork(privacy: PrivacySpec) -> tuple[Paperwork, ...]:
    """Return what the deployment context requires and the configuration lacks.

    A public space needs posted signs, an impact assessment and an authorisation; the other
    contexts are not checked here (their assessment lists what remains to do).
    """
    if privacy.context is not DeploymentContext.PUBLIC_SPACE:
        return ()
    paperwork = privacy.paperwork
    missing = {
        Paperwork.SIGNS: not paperwork.signs_posted,
        Paperwork.ASSESSMENT: not paperwork.assessment_reference.strip(),
        Paperwork.AUTHORISATION: not paperwork.authorisation_reference.strip(),
    }
    return tuple(item for item, lacking in missing.items() if lacking)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnabledDetector:
    """One detector the configuration turns on."""

    kind: DetectorKind
    camera_id: str | None = None
    rule_id: str | None = None
    name: str = ""
    """The rule's (or camera's) name, for people."""

    @property
    def key(self) -> str:
        """Return the key acknowledgements are stored under: `<rule, camera or hub>:<kind>`."""
        return detector_key(self.kind, self.rule_id or self.camera_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """A detector enabled in a context that needs an acknowledgement nobody gave."""

    detector: EnabledDetector
    context: DeploymentContext
    allowance: Allowance

    @property
    def key(self) -> str:
        """Return a stable id (the detector's key)."""
        return self.detector.key


def detector_key(kind: DetectorKind, scope: str | None = None) -> str:
    """Return the key of a detector run by a rule or camera (`scope`), or hub-wide (None)."""
    return f"{scope or 'hub'}:{kind.value}"


UNDECLARED_CONTEXT = DeploymentContext.PRIVATE_HOME
"""What gates a configuration that declares no context: the most common context, whose gate
holds back every plate store and search (fail closed: nothing runs that a home would not run)."""


def effective_context(context: DeploymentContext | None) -> DeploymentContext:
    """Return the context that gates: the declared one, or a private home's when none is."""
    return UNDECLARED_CONTEXT if context is None else context


def allowance(context: DeploymentContext | None, kind: DetectorKind) -> Allowance:
    """Return what a context (a private home when none is declared) lets a detector kind do."""
    allowed: Allowance = getattr(PURPOSES[kind].gate, effective_context(context).value)
    return allowed


def needs_acknowledgement(
    context: DeploymentContext | None, kinds: Iterable[DetectorKind]
) -> list[DetectorKind]:
    """Return the kinds (in order, once each) the context starts disabled."""
    gated: list[DetectorKind] = []
    for kind in kinds:
        if allowance(context, kind) is Allowance.ACKNOWLEDGE and kind not in gated:
            gated.append(kind)
    return gated


def acknowledged(
    detector: EnabledDetector, acknowledgements: Mapping[str, Acknowledgement]
) -> Acknowledgement | None:
    """Return the acknowledgement that covers a detector, if any."""
    ack = acknowledgements.get(detector.key)
    return ack if ack is not None and ack.detector is detector.kind else None


def check_configuration(
    context: DeploymentContext | None,
    enabled: Iterable[EnabledDetector],
    acknowledgements: Mapping[str, Acknowledgement],
) -> list[Violation]:
    """Return every enabled detector the context starts disabled and nobody acknowledged.

    Without a declared context, a private home's gate applies (fail closed).
    """
    gating = effective_context(context)
    return [
        Violation(detector=detector, context=gating, allowance=allowance(gating, detector.kind))
        for detector in enabled
        if allowance(context, detector.kind) is Allowance.ACKNOWLEDGE
        and acknowledged(detector, acknowledgements) is None
    ]


def statistics_only(context: DeploymentContext | None, kind: DetectorKind | str) -> bool:
    """Return whether a detector runs as anonymous statistics in this context."""
    try:
        detector = DetectorKind(kind)
    except ValueError:  # a camera-side event kind (tamper conditions, plates)
        return False
    return allowance(context, detector) is Allowance.STATISTICS


def event_detector(event: RuleEvent) -> DetectorKind | None:
    """Return the detector kind an event is gated as (None: it describes no one).

    Camera-side events (ONVIF, Frigate…) go through `CAMERA_SIDE_KINDS`; Vigil's own events
    are named after their detector (tamper conditions and plate events are gated by the
    configuration, not per event).
    """
    if event.source != VIGIL_SOURCE:
        return CAMERA_SIDE_KINDS.get(event.kind)
    try:
        return DetectorKind(event.kind)
    except ValueError:
        return None


def gate_event(privacy: PrivacySpec, event: RuleEvent) -> RuleEvent | None:
    """Return the event as the context lets it leave the engine, or None when it may not.

    Camera-side analytics pass the same purpose table as Vigil's detectors: a kind the table
    does not know is dropped, one the context holds back runs only once acknowledged (under
    `<camera id>:<kind>`), and statistics-only kinds lose their track ids and positions.
    """
    detector = event_detector(event)
    if detector is None:
        known = event.source == VIGIL_SOURCE or event.kind in CAMERA_SIDE_KINDS
        return event if known else None
    gate = allowance(privacy.context, detector)
    if gate is Allowance.ACKNOWLEDGE and event.source != VIGIL_SOURCE:
        enabled = EnabledDetector(kind=detector, camera_id=event.camera_id)
        if acknowledged(enabled, privacy.acknowledgements) is None:
            return None
    return anonymise(event) if gate is Allowance.STATISTICS else event


def shows_tracks(context: DeploymentContext | None, kinds: Iterable[DetectorKind]) -> bool:
    """Return whether a camera's pictures may show boxes and track ids.

    Not in the anonymous-statistics mode: where the context runs some detectors as statistics
    only, a camera's pictures show its tracks only when one of its analyses of people keeps
    them (a public counting camera's pictures show no box, no id).
    """
    if not any(statistics_only(context, kind) for kind in DetectorKind):
        return True
    return any(PURPOSES[kind].about_people and not statistics_only(context, kind) for kind in kinds)


def keeps_images(context: DeploymentContext | None, kind: DetectorKind | str) -> bool:
    """Return whether a snapshot or crop may be kept for a detector's event in this context."""
    return not statistics_only(context, kind)


STATISTICS_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "count",
        "counts",
        "people",
        "density",
        "level",
        "previous_level",
        "rising",
        "metric",
        "over_threshold",
        "movement",
        "last_movement",
        "mean_speed_kmh",
        "speed_is_estimate",
        "threshold",
        "unit",
        "direction",
        "line",
        "label",
        "zone",
        "source",
    }
)
"""What a statistics-only event keeps: counts and levels, never a track id or a position."""


def anonymise(event: RuleEvent) -> RuleEvent:
    """Return the event as an anonymous statistic: no track id, no position, no ids."""
    attrs = {key: value for key, value in event.attrs.items() if key in STATISTICS_ATTRIBUTES}
    return replace(event, track_id=None, attrs=attrs)


def apply_context(context: DeploymentContext | None, event: RuleEvent) -> RuleEvent:
    """Return the event as the context lets it leave the engine."""
    return anonymise(event) if statistics_only(context, event.kind) else event
