"""The impact assessment and the record of processing, pre-filled from the live configuration.

Both follow what the CNIL asks for: the assessment in the four parts of its PIA method
(context, fundamental principles, risks, validation), the record with the items of GDPR
article 30. What only the controller can say (necessity, balance of interests, severity of
risks, opinions, signature) is left as boxes to fill, and listed at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

from vigil_core.compliance.document import (
    Block,
    Bullets,
    Document,
    Heading,
    Paragraph,
    Table,
    ToFill,
    render_markdown,
    render_pdf,
)
from vigil_core.compliance.signage import signage
from vigil_core.compliance.summary import (
    LANGUAGES,
    CameraSummary,
    DetectorUse,
    Language,
    ProcessingSummary,
    Texts,
)
from vigil_protocol.privacy import RETENTION, Artefact, DeploymentContext


def _controller_value(value: str, t: Texts) -> str:
    return value.strip() or f"[{t('meta.not_set')}]"


def _basis(use: DetectorUse, summary: ProcessingSummary, t: Texts) -> str:
    if use.acknowledgement is not None:
        return t(f"legal_basis.{use.acknowledgement.legal_basis.value}")
    if summary.context is DeploymentContext.PRIVATE_HOME:
        return t("legal_basis.household")
    return t("legal_basis.not_stated")


def _status(use: DetectorUse, t: Texts) -> str:
    ack = use.acknowledgement
    if use.status == "acknowledged" and ack is not None:
        return t("status.acknowledged", by=ack.by, date=t.day(ack.at))
    return t(f"status.{use.status}")


def safeguards(summary: ProcessingSummary, t: Texts) -> list[str]:
    """Return the safeguards in place, as sentences: masks and plate modes included."""
    items = [t("safeguard.local"), t("safeguard.no_biometrics")]
    masked = [c for c in summary.cameras if c.privacy_masks]
    if masked:
        cameras = ", ".join(f"{c.name} ({c.privacy_masks})" for c in masked)
        items.append(t("safeguard.masks", count=summary.masks, cameras=cameras))
    else:
        items.append(t("safeguard.no_masks"))
    modes = [c for c in summary.cameras if c.plate_mode]
    if modes:
        listed = "; ".join(
            t("meta.pair", key=c.name, value=t(f"plate_mode.{c.plate_mode}")) for c in modes
        )
        items.append(t("safeguard.plate_modes", modes=listed))
    if summary.context is not None:
        items.append(t("safeguard.gating", held=len(summary.held_back)))
    if any(use.status == "statistics" for use in summary.running):
        items.append(t("safeguard.statistics"))
    items.append(t("safeguard.retention"))
    log = summary.access_log
    if log is None:
        items.append(t("safeguard.access_log_missing"))
    else:
        status = t("safeguard.verified") if log.ok else t("safeguard.broken")
        items.append(
            t("safeguard.access_log", entries=log.entries, status=status, head=log.head[:16])
        )
    if summary.admin_only_services:
        items.append(t("safeguard.admin_only"))
    items.append(t("safeguard.redaction"))
    return items


def _recipients(summary: ProcessingSummary, t: Texts) -> list[str]:
    listed = [
        t(f"recipient.{r.key}", count=r.count if r.count is not None else "?")
        for r in summary.recipients
    ]
    return [*listed, t("recipient.processors"), t("recipient.transfers")]


def _camera_blocks(camera: CameraSummary, summary: ProcessingSummary, t: Texts) -> list[Block]:
    plates = t(f"plate_mode.{camera.plate_mode or 'none'}")
    blocks: list[Block] = [
        Heading(3, t("assessment.camera", name=camera.name)),
        Paragraph(t("assessment.camera_masks", count=camera.privacy_masks, plates=plates)),
    ]
    if not camera.detectors:
        return [*blocks, Paragraph(t("assessment.no_detector"))]
    rows = tuple(
        (
            _detector_name(use, t),
            t(f"purpose.{use.purpose.purpose}"),
            t(f"level.{use.purpose.level.value}"),
            _status(use, t),
            _basis(use, summary, t),
        )
        for use in camera.detectors
    )
    header = tuple(
        t(f"assessment.col_{c}") for c in ("detector", "purpose", "data", "status", "basis")
    )
    return [*blocks, Table(header, rows, (2.2, 4.2, 2.2, 2.4, 2.0))]


def _detector_name(use: DetectorUse, t: Texts) -> str:
    kind = t(f"detector.{use.detector.kind.value}")
    name = use.detector.name
    return t("meta.named", kind=kind, name=name) if name and use.detector.rule_id else kind


def _necessity(summary: ProcessingSummary, t: Texts) -> list[Block]:
    blocks: list[Block] = []
    for kind in summary.kinds(running=False):
        uses = [u for u in summary.uses if u.detector.kind is kind]
        blocks.append(Heading(3, t(f"detector.{kind.value}")))
        blocks.append(Paragraph(t(f"purpose.{kind.value}")))
        stated = [
            t("assessment.justification", by=a.by, date=t.day(a.at), text=a.justification)
            for a in (u.acknowledgement for u in uses)
            if a is not None
        ]
        if stated:
            blocks.append(Bullets(tuple(dict.fromkeys(stated))))
        else:
            name = t(f"detector.{kind.value}")
            blocks.append(ToFill(name, t("assessment.necessity_hint", detector=name)))
    return blocks


def _retention_table(summary: ProcessingSummary, t: Texts) -> Table:
    used = set(summary.artefacts())
    rows = tuple(
        (
            t(f"artefact.{artefact.value}"),
            t("meta.days", days=summary.retention.days(artefact)),
            t("meta.days", days=RETENTION[artefact].default_days),
            t("meta.yes") if artefact in used else t("meta.no"),
        )
        for artefact in Artefact
    )
    header = tuple(t(f"assessment.col_{c}") for c in ("artefact", "days", "default", "used"))
    return Table(header, rows, (5.0, 1.5, 1.5, 2.0))


def _risks(t: Texts) -> Table:
    rows = tuple(
        (
            t(f"assessment.risk_{risk}"),
            t(f"assessment.risk_{risk}_threats"),
            t(f"assessment.risk_{risk}_measures"),
            "",
            "",
        )
        for risk in ("access", "change", "loss", "creep")
    )
    header = tuple(
        t(f"assessment.col_{c}") for c in ("risk", "threats", "measures", "severity", "likelihood")
    )
    return Table(header, rows, (2.2, 3.6, 3.6, 1.3, 1.5))


def _todo(summary: ProcessingSummary, t: Texts) -> list[str]:
    items: list[str] = []
    controller = summary.controller
    if not controller.name.strip() or not controller.contact.strip():
        items.append(t("assessment.todo_controller"))
    if summary.context is None:
        items.append(t("assessment.todo_context"))
    if summary.held_back:
        names = ", ".join(
            f"{_detector_name(u, t)} ({_camera_name(summary, u)})" for u in summary.held_back
        )
        items.append(t("assessment.todo_held_back", detectors=names))
    items.append(t("assessment.todo_necessity"))
    paper = summary.paperwork
    if _needs_authorisation(summary) and not paper.authorisation_reference.strip():
        items.append(t("assessment.todo_authorisation"))
    if not paper.assessment_reference.strip() or paper.assessment_date is None:
        items.append(t("assessment.todo_assessment"))
    if summary.masks == 0:
        items.append(t("assessment.todo_masks"))
    for key in ("signs", "rights", "risks", "validation"):
        if key != "signs" or not paper.signs_posted:
            items.append(t(f"assessment.todo_{key}"))
    return items


def _paperwork(summary: ProcessingSummary, t: Texts) -> list[Block]:
    """Return the paperwork part: the assessment's reference and date, the authorisation, signs."""
    paper = summary.paperwork
    dated = t.day(datetime.combine(paper.assessment_date, time())) if paper.assessment_date else ""
    rows = (
        (t("assessment.paperwork_assessment"), _controller_value(paper.assessment_reference, t)),
        (t("assessment.paperwork_assessment_date"), _controller_value(dated, t)),
        (
            t("assessment.paperwork_authorisation"),
            _controller_value(paper.authorisation_reference, t),
        ),
        (t("assessment.paperwork_signs"), t("meta.yes") if paper.signs_posted else t("meta.no")),
    )
    blocks: list[Block] = [
        Heading(2, t("assessment.paperwork")),
        Table((t("record.col_item"), t("record.col_value")), rows, (1.0, 2.0)),
    ]
    if _needs_authorisation(summary) and not paper.authorisation_reference.strip():
        blocks.append(ToFill(t("assessment.authorisation"), t("assessment.authorisation_hint")))
    return blocks


def _needs_authorisation(summary: ProcessingSummary) -> bool:
    return summary.context in (DeploymentContext.PUBLIC_SPACE, DeploymentContext.PRIVATE_PREMISES)


def _models(summary: ProcessingSummary, t: Texts) -> list[Block]:
    """Return the error rates of the models the configuration runs, from the model registry."""
    rows = tuple(
        (
            model.name,
            figure.metric,
            figure.value,
            figure.data,
            t("assessment.models_held_out" if figure.held_out else "assessment.models_development"),
        )
        for model in summary.models
        for figure in model.measured
    )
    if not summary.models:
        return [Heading(2, t("assessment.models")), Paragraph(t("assessment.models_none"))]
    header = tuple(
        t(f"assessment.col_{c}") for c in ("model", "metric", "value", "dataset", "held_out")
    )
    return [
        Heading(2, t("assessment.models")),
        Paragraph(t("assessment.models_text")),
        Table(header, rows, (2.4, 3.6, 1.6, 3.4, 1.6)),
    ]


def _camera_name(summary: ProcessingSummary, use: DetectorUse) -> str:
    for camera in summary.cameras:
        if camera.camera_id == use.detector.camera_id:
            return camera.name
    return "hub"


def impact_assessment(summary: ProcessingSummary, language: Language) -> Document:
    """Return the pre-filled data protection impact assessment."""
    t = Texts(language)
    controller = summary.controller
    context_key = summary.context.value if summary.context else "unset"
    blocks: list[Block] = [
        Heading(1, t("assessment.part_context")),
        Heading(2, t("assessment.controller")),
        Table(
            (t("record.col_item"), t("record.col_value")),
            (
                (t("assessment.controller_name"), _controller_value(controller.name, t)),
                (t("assessment.controller_contact"), _controller_value(controller.contact, t)),
                (t("assessment.dpo"), _controller_value(controller.dpo_contact, t)),
            ),
            (1.0, 2.0),
        ),
        Heading(2, t("assessment.deployment")),
        Paragraph(f"{t.context(summary.context)}. {t(f'context.{context_key}.description')}"),
        Heading(2, t("assessment.overview")),
        Paragraph(t("assessment.overview_text", cameras=len(summary.cameras))),
        Heading(2, t("assessment.cameras")),
    ]
    for camera in summary.cameras:
        blocks += _camera_blocks(camera, summary, t)
    blocks += _paperwork(summary, t)
    blocks += [
        Heading(1, t("assessment.part_principles")),
        Heading(2, t("assessment.necessity")),
        *_necessity(summary, t),
        Heading(2, t("assessment.basis")),
        ToFill(t("assessment.basis"), t("assessment.basis_hint")),
        Heading(2, t("assessment.retention")),
        _retention_table(summary, t),
        Paragraph(t("assessment.retention_note")),
        Heading(2, t("assessment.minimisation")),
        Bullets(tuple(safeguards(summary, t)[:4])),
        Heading(2, t("assessment.information")),
        Paragraph(t("assessment.information_text")),
        ToFill(t("assessment.information"), t("assessment.information_hint")),
        Heading(2, t("assessment.rights")),
        Paragraph(t("assessment.rights_text")),
        ToFill(t("assessment.rights"), t("assessment.rights_hint")),
        Heading(2, t("assessment.recipients")),
        Bullets(tuple(_recipients(summary, t))),
        ToFill(t("assessment.recipients"), t("assessment.recipients_hint")),
        Heading(1, t("assessment.part_risks")),
        Heading(2, t("assessment.measures")),
        Bullets(tuple(safeguards(summary, t))),
        Heading(2, t("assessment.risks")),
        _risks(t),
        *_models(summary, t),
        Heading(1, t("assessment.part_validation")),
        ToFill(t("assessment.dpo_opinion")),
        ToFill(t("assessment.people_opinion"), t("assessment.people_opinion_hint")),
        ToFill(t("assessment.decision")),
        Heading(1, t("assessment.part_todo")),
        Bullets(tuple(_todo(summary, t))),
    ]
    return _document(summary, t, t("assessment.title"), blocks)


def record_of_processing(summary: ProcessingSummary, language: Language) -> Document:
    """Return the entry of the record of processing activities (GDPR article 30)."""
    t = Texts(language)
    controller = summary.controller
    context_key = summary.context.value if summary.context else "unset"
    kinds = summary.kinds()
    bases = sorted({_basis(use, summary, t) for use in summary.running})
    levels = sorted(
        {
            t(f"level.{use.purpose.level.value}")
            for use in summary.running
            if use.purpose.about_people
        }
    )
    artefacts = _lines(
        t(
            "meta.pair",
            key=t(f"artefact.{a.value}"),
            value=t("meta.days", days=summary.retention.days(a)),
        )
        for a in summary.artefacts()
    )
    rows = (
        (t("record.name"), t("record.name_value", context=t.context(summary.context))),
        (
            t("record.controller"),
            f"{_controller_value(controller.name, t)} — {_controller_value(controller.contact, t)}",
        ),
        (t("record.dpo"), _controller_value(controller.dpo_contact, t)),
        (t("record.purposes"), _lines(t(f"purpose.{k.value}") for k in kinds) or t("meta.none")),
        (t("record.basis"), _lines(bases) or t("legal_basis.not_stated")),
        (t("record.subjects"), t(f"subjects.{context_key}")),
        (
            t("record.data"),
            t("record.data_value", items=", ".join(levels).lower() or t("meta.none")),
        ),
        (t("record.recipients"), _lines(_recipients(summary, t))),
        (t("record.transfers"), t("record.transfers_value")),
        (t("record.retention"), artefacts),
        (t("record.security"), _lines(safeguards(summary, t))),
        (t("record.dates"), t("record.dates_value", date=t.date(summary.generated_at))),
    )
    blocks: list[Block] = [
        Paragraph(t("record.subtitle_extra")),
        Table((t("record.col_item"), t("record.col_value")), rows, (1.0, 3.2)),
    ]
    return _document(summary, t, t("record.title"), blocks)


def _lines(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _document(summary: ProcessingSummary, t: Texts, title: str, blocks: list[Block]) -> Document:
    date = t.date(summary.generated_at)
    return Document(
        title=title,
        subtitle=t("meta.generated", date=date, version=summary.version),
        blocks=tuple(blocks),
        footer=t("meta.footer", version=summary.version, date=date),
        to_fill_label=t("meta.to_fill"),
        language=t.language,
        created=summary.generated_at,
    )


@dataclass(frozen=True, slots=True)
class WrittenDocument:
    """One generated file."""

    kind: str
    """impact_assessment, record_of_processing or signage."""
    language: Language
    path: Path


def documents(summary: ProcessingSummary) -> list[tuple[str, Language, Document]]:
    """Return every document in every language."""
    return [
        (kind, language, build(summary, language))
        for language in LANGUAGES
        for kind, build in (
            ("impact_assessment", impact_assessment),
            ("record_of_processing", record_of_processing),
            ("signage", signage),
        )
    ]


def write_documents(summary: ProcessingSummary, directory: Path) -> list[WrittenDocument]:
    """Write every document as Markdown and PDF, in English and French (blocking)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[WrittenDocument] = []
    for kind, language, document in documents(summary):
        stem = directory / f"{kind}.{language}"
        markdown = stem.with_name(stem.name + ".md")
        markdown.write_text(render_markdown(document), encoding="utf-8")
        pdf = stem.with_name(stem.name + ".pdf")
        pdf.write_bytes(render_pdf(document))
        written += [WrittenDocument(kind, language, markdown), WrittenDocument(kind, language, pdf)]
    return written
