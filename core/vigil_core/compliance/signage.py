"""The sign for each camera: controller, purposes, what is kept and how long, rights, contact.

GDPR articles 12 and 13 ask that people know, before they enter the area filmed, who films,
why, for how long, and how to exercise their rights. The text is written from the camera's
running detectors only, so a sign never promises less (or more) than the camera does.
"""

from __future__ import annotations

from vigil_core.compliance.document import Block, Bullets, Document, Heading, PageBreak, Paragraph
from vigil_core.compliance.summary import CameraSummary, Language, ProcessingSummary, Texts
from vigil_protocol.privacy import Artefact


def camera_sign(
    summary: ProcessingSummary, camera: CameraSummary, language: Language
) -> list[Block]:
    """Return the blocks of one camera's sign."""
    t = Texts(language)
    controller = summary.controller
    purposes = [
        t(f"purpose_short.{key}")
        for key in dict.fromkeys(u.purpose.purpose for u in camera.running)
    ]
    kept = [
        t(
            "meta.pair",
            key=t(f"artefact.{a.value}"),
            value=t("meta.days", days=summary.retention.days(a)),
        )
        for a in summary.camera_artefacts(camera)
    ]
    if not any(a in (Artefact.SNAPSHOTS, Artefact.CROPS) for a in summary.camera_artefacts(camera)):
        kept.append(t("signage.nothing_kept"))
    notes = [t("signage.no_biometrics")]
    if any(use.status == "statistics" for use in camera.running):
        notes.append(t("signage.statistics"))
    not_set = f"[{t('meta.not_set')}]"
    return [
        Heading(1, t("signage.title")),
        Paragraph(t("signage.camera", name=camera.name)),
        Heading(2, t("signage.controller")),
        Paragraph(controller.name.strip() or not_set),
        Heading(2, t("signage.purposes")),
        Bullets(tuple(purposes) or (t("meta.none"),)),
        Heading(2, t("signage.kept")),
        Bullets(tuple(kept)),
        Bullets(tuple(notes)),
        Heading(2, t("signage.rights")),
        Paragraph(t("signage.rights_text")),
        Heading(2, t("signage.contact")),
        Paragraph(
            " — ".join(v for v in (controller.contact.strip(), controller.dpo_contact.strip()) if v)
            or not_set
        ),
        Paragraph(t("signage.legal")),
    ]


def signage(summary: ProcessingSummary, language: Language) -> Document:
    """Return the signs of every camera, one per page."""
    t = Texts(language)
    blocks: list[Block] = []
    for index, camera in enumerate(summary.cameras):
        if index:
            blocks.append(PageBreak())
        blocks += camera_sign(summary, camera, language)
    date = t.date(summary.generated_at)
    return Document(
        title=t("signage.document_title"),
        subtitle=t("meta.generated", date=date, version=summary.version),
        blocks=tuple(blocks),
        footer=t("meta.footer", version=summary.version, date=date),
        to_fill_label=t("meta.to_fill"),
        language=language,
        created=summary.generated_at,
        large=True,
    )
