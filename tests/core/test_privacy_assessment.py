"""Impact assessment, record and signs for two contrasting setups; the PDFs opened and rendered.

Set VIGIL_KEEP_RENDERS=<folder> to keep the PDFs and their PNG pages for a person to look at.
"""

from __future__ import annotations

from datetime import UTC, datetime
import os
from pathlib import Path
import re
import shutil
import subprocess

from PIL import Image
import pytest

from vigil_core.compliance.assessment import (
    documents,
    impact_assessment,
    record_of_processing,
    write_documents,
)
from vigil_core.compliance.document import (
    Bullets,
    Document,
    Heading,
    Paragraph,
    Table,
    ToFill,
    latin1,
    render_markdown,
    render_pdf,
)
from vigil_core.compliance.signage import signage
from vigil_core.compliance.summary import LogStatus, ProcessingSummary, Recipient
from vigil_core.config import EngineConfig
from vigil_core.inference.registry import default_registry
from vigil_core.privacy.context import EnabledDetector
from vigil_protocol.privacy import DetectorKind

NOW = datetime(2025, 6, 1, 14, 5, tzinfo=UTC)
SQUARE = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
PDFTOPPM = shutil.which("pdftoppm")


def home() -> ProcessingSummary:
    """A house: one garden camera, a zone, no masks, no controller written down."""
    config = EngineConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "garden",
                    "name": "Garden",
                    "source": "rtsp://192.0.2.1/s",
                    "zones": [{"id": "lawn", "name": "Lawn", "polygon": SQUARE}],
                }
            ],
            "privacy": {"context": "private_home", "retention": {"snapshots": 3}},
        }
    )
    return ProcessingSummary.from_config(config, generated_at=NOW, version="0.1.0")


def town() -> ProcessingSummary:
    """A town: two public cameras, masks, acknowledged and held-back detectors, plates hashed."""
    config = EngineConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "square",
                    "name": "Place de l'Hôtel-de-Ville",
                    "source": "rtsp://192.0.2.1/s",
                    "privacy_masks": [[[0, 0], [0.3, 0], [0.3, 0.3]], [[0.7, 0], [1, 0], [1, 0.3]]],
                    "zones": [
                        {"id": "stop", "name": "Arrêt de bus", "polygon": SQUARE, "min_dwell_s": 60}
                    ],
                    "rules": [
                        {
                            "type": "line_crossing",
                            "id": "footfall",
                            "name": "Passage",
                            "line": [[0, 0.5], [1, 0.5]],
                        },
                        {"type": "crowd", "id": "crowd", "name": "Foule", "zone": "stop"},
                        {"type": "object_left", "id": "bags", "detect": ["left", "removed"]},
                    ],
                },
                {"id": "street", "name": "Rue Victor-Hugo", "source": "rtsp://192.0.2.2/s"},
            ],
            "privacy": {
                "context": "public_space",
                "controller": {
                    "name": "Mairie de Saint-Étienne",
                    "contact": "dpo@saint-etienne.example",
                    "dpo_contact": "Délégué : M. Lefèvre",
                },
                "acknowledgements": {
                    "stop:loitering": {
                        "detector": "loitering",
                        "legal_basis": "public_task",
                        "justification": "Agressions nocturnes répétées à l'arrêt de bus.",
                        "by": "Élise Müller",
                        "at": "2025-05-02T10:00:00+00:00",
                        "context": "public_space",
                    }
                },
            },
        }
    )
    return ProcessingSummary.from_config(
        config,
        generated_at=NOW,
        version="0.1.0",
        recipients=[Recipient("ha_administrators", 2), Recipient("ha_users", 5)],
        access_log=LogStatus(entries=42, ok=True, head="ab" * 32),
        extra_detectors=[
            EnabledDetector(kind=DetectorKind.ANPR_HASHED, camera_id="street", name="Rue"),
            EnabledDetector(kind=DetectorKind.PLATE_QUERY),
        ],
        plate_modes={"street": "hashed"},
        admin_only_services=True,
    )


def test_summary_reads_the_live_configuration() -> None:
    summary = town()
    statuses = {(u.detector.key, u.status) for u in summary.uses}
    assert statuses == {
        ("stop:loitering", "acknowledged"),
        ("footfall:line_crossing", "statistics"),
        ("crowd:crowd", "statistics"),
        ("bags:object_left", "allowed"),
        ("bags:object_removed", "held_back"),
        ("square:tamper", "allowed"),
        ("street:tamper", "allowed"),
        ("street:anpr_hashed", "held_back"),
        ("hub:plate_query", "held_back"),
    }
    assert summary.masks == 2
    assert [a.value for a in summary.artefacts()] == [
        "events", "snapshots", "crops", "counters", "access_log", "exports",
    ]  # fmt: skip
    assert [u.status for u in home().uses] == ["allowed", "allowed"]


def test_home_assessment_in_english() -> None:
    text = render_markdown(impact_assessment(home(), "en"))
    assert text.startswith("# Data protection impact assessment — video analytics\n")
    assert "Generated on 1 June 2025, 14:05 UTC by Vigil 0.1.0" in text
    assert "Private home. Cameras watch a private dwelling" in text
    assert "### Camera “Garden”" in text
    assert "| Zone presence (intrusion, exit): Lawn | Detect that a person" in text
    assert "Household exemption (art. 2(2)(c))" in text
    assert "| Snapshots of events | 3 days | 7 days | yes |" in text
    assert "| Plate reads (plate text) | 7 days | 7 days | no |" in text
    assert "No privacy mask is set" in text
    assert "No biometrics, by construction" in text
    assert "Access log: not available to this report." in text
    assert "Write the controller's name and the contact for rights" in text
    assert "Explain why “Zone presence (intrusion, exit)” is necessary here" in text
    # Nothing that only concerns public space or premises.
    assert "Prefectoral authorisation" not in text
    assert "anonymous statistics" not in text
    assert "Not running" not in text


def test_town_assessment_in_french() -> None:
    text = render_markdown(impact_assessment(town(), "fr"))
    assert text.startswith(
        "# Analyse d'impact relative à la protection des données — analyse vidéo\n"
    )
    assert "Généré le 1 juin 2025 à 14 h 05 UTC par Vigil 0.1.0" in text
    assert "Espace public. Les caméras filment une rue" in text
    assert "| Responsable de traitement | Mairie de Saint-Étienne |" in text
    assert "### Caméra « Place de l'Hôtel-de-Ville »" in text
    assert "Masques de confidentialité sur cette caméra : 2." in text
    # Hashed plates are held back in a public space: the watchlist mode is what runs.
    assert "Lecture de plaques : liste de surveillance seule" in text
    row = "| Maraudage (stationnement prolongé) : Arrêt de bus |"
    assert row in text
    assert (
        "Actif : base légale indiquée par Élise Müller le 2 mai 2025 | Mission d'intérêt public"
        in text
    )
    assert "Inactif : retenu tant que sa base légale n'est pas indiquée" in text
    assert "Actif sous forme de statistiques anonymes" in text
    assert "Autorisation préfectorale (code de la sécurité intérieure, L252-1)" in text
    assert "« Agressions nocturnes répétées à l'arrêt de bus. »" in text
    assert (
        "occultent 2 zone(s) de l'image avant toute analyse : Place de l'Hôtel-de-Ville (2)" in text
    )
    assert "Rue Victor-Hugo : liste de surveillance seule" in text
    # Issue 21: the plate safeguards (review of matches, rights, objection) are stated.
    assert "reste un soupçon tant qu'un administrateur ne l'a pas confirmée" in text
    assert "liste d'opposition n'est jamais hachée" in text
    assert "3 détecteur(s) sont retenus" in text
    assert "42 entrées, chaîne vérifiée, empreinte de tête abababababababab" in text
    assert "Administrateurs de Home Assistant (2)" in text
    assert "refusés aux utilisateurs qui ne sont pas administrateurs" in text
    assert "Statuer sur les détecteurs retenus par le contexte : Objet enlevé : bags" in text
    # The French and English documents have the same structure.
    en, fr = impact_assessment(town(), "en"), impact_assessment(town(), "fr")
    assert [type(b) for b in en.blocks] == [type(b) for b in fr.blocks]


def test_assessment_says_which_picture_views_are_logged() -> None:
    """Issue 21: the safeguard names the picture views the server writes, and those it does not."""
    en = render_markdown(impact_assessment(town(), "en"))
    assert (
        "every view of a plate crop and, outside a private home, every view of a camera's "
        "analysed frame (both shown to Home Assistant administrators only)" in en
    )
    assert "Not written: the camera pictures drawn on in the settings forms" in en
    assert "in a private home only, the analysed frame; no plate crop" in en
    fr = render_markdown(impact_assessment(town(), "fr"))
    assert "chaque consultation d'une image de plaque et, hors domicile privé" in fr
    assert "Non inscrits : les images de caméra sur lesquelles on dessine" in fr


def test_record_of_processing() -> None:
    text = render_markdown(record_of_processing(town(), "en"))
    assert "# Record of processing activities — video analytics" in text
    assert (
        "| Processing | Video analytics on the cameras of the site (Vigil), Public space |" in text
    )
    assert "Passers-by, road users" in text
    assert "Public task (art. 6(1)(e))" in text
    assert "- Counters (counts per class and interval): 365 days" in text
    home_text = render_markdown(record_of_processing(home(), "fr"))
    assert "Occupants, leurs invités" in home_text
    assert "[non renseigné]" in home_text


def test_signs_describe_each_camera() -> None:
    text = render_markdown(signage(town(), "fr"))
    assert text.count("# Zone sous analyse vidéo") == 2
    assert "Caméra : Place de l'Hôtel-de-Ville" in text
    assert "- Comptage des passages de personnes et de véhicules" in text
    assert "Le comptage est ici anonyme" in text
    assert "Pas de reconnaissance faciale" in text
    assert "dpo@saint-etienne.example — Délégué : M. Lefèvre" in text
    # The street camera runs no held-back plate reading: its sign does not mention plates.
    street = text.split("Caméra : Rue Victor-Hugo")[1]
    assert "plaque" not in street.lower().replace("vignettes (images d'objets ou de plaques)", "")
    english = render_markdown(signage(home(), "en"))
    assert "- Detecting intrusions into protected areas" in english
    assert "[not set]" in english


def test_latin1_keeps_accents_and_plain_typography() -> None:
    assert latin1("Étude — « données » d’œuvre…") == "Étude - « données » d'oeuvre..."
    assert latin1("Zoë 中 ŝ") == "Zoë ? s"


def _rendered(pdf: Path, out: Path) -> list[Path]:
    assert PDFTOPPM is not None
    subprocess.run([PDFTOPPM, "-r", "50", "-png", str(pdf), str(out / pdf.stem)], check=True)
    return sorted(out.glob(f"{pdf.stem}*.png"))


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm (poppler-utils) is not installed")
@pytest.mark.parametrize("summary", [home, town], ids=["home", "town"])
def test_write_documents_as_markdown_and_pdf(summary: object, tmp_path: Path) -> None:
    written = write_documents(summary(), tmp_path / "docs")  # type: ignore[operator]
    names = sorted(w.path.name for w in written)
    assert len(names) == 12
    assert "impact_assessment.fr.pdf" in names and "signage.en.md" in names
    pages = tmp_path / "pages"
    pages.mkdir()
    for item in written:
        if item.path.suffix != ".pdf":
            continue
        assert item.path.read_bytes().startswith(b"%PDF-")
        for png in _rendered(item.path, pages):
            with Image.open(png) as image:
                grey = image.convert("L")
                assert grey.size[0] > 300
                # Ink on the page: a fair share of dark pixels, not a blank sheet.
                dark = sum(grey.histogram()[:128])
                assert dark > 500, png.name
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "docs" / "impact_assessment.fr.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Analyse d'impact relative à la protection des données" in text
    assert "Données conservées et durées" in text
    if keep := os.environ.get("VIGIL_KEEP_RENDERS"):
        target = Path(keep) / tmp_path.name
        shutil.copytree(tmp_path, target, dirs_exist_ok=True)


def test_every_document_renders_in_both_languages() -> None:
    rendered = documents(home())
    assert [(kind, language) for kind, language, _doc in rendered] == [
        ("impact_assessment", "en"),
        ("record_of_processing", "en"),
        ("signage", "en"),
        ("impact_assessment", "fr"),
        ("record_of_processing", "fr"),
        ("signage", "fr"),
    ]


def test_markdown_of_each_block() -> None:
    document = Document(
        title="T",
        subtitle="S",
        blocks=(
            Heading(2, "H"),
            Paragraph("P"),
            Bullets(("a", "b")),
            Table(("x", "y|z"), (("1", "2\n3"),)),
            ToFill("Decision", "Sign here"),
        ),
        footer="F",
        to_fill_label="To fill",
    )
    assert render_markdown(document) == (
        "# T\n\n*S*\n\n### H\n\nP\n\n- a\n- b\n\n| x | y\\|z |\n|---|---|\n| 1 | 2<br>3 |\n\n"
        "> **To fill — Decision**\n>\n> *Sign here*\n>\n> …\n>\n> …\n\n---\n\n*F*\n"
    )
    assert render_pdf(document).startswith(b"%PDF-")


def test_the_assessment_prints_the_models_error_rates_from_the_registry() -> None:
    summary = town()
    assert [model.name for model in summary.models] == ["yolox_nano"]
    text = render_markdown(impact_assessment(summary, "en"))
    assert "## 3.3 Error rates of the models" in text
    assert "| yolox_nano | person recall / precision at confidence 0.25 | 0.95 / 0.79 |" in text
    assert "development data" in text
    french = render_markdown(impact_assessment(summary, "fr"))
    assert "## 3.3 Taux d'erreur des modèles" in french and "0.951, 0.979, 1.0" in french
    # A camera reading plates adds the plate models' figures.
    config = EngineConfig.model_validate(
        {"cameras": [{"id": "gate", "source": "rtsp://192.0.2.1/s", "anpr": {"enabled": True}}]}
    )
    plates = ProcessingSummary.from_config(config, generated_at=NOW, version="0.1.0")
    assert [m.name for m in plates.models] == [
        "yolox_nano",
        "ppocr_v6_det_small",
        "cct_xs_v1_global",
    ]
    assert "0.878 / 0.915 / 0.970" in render_markdown(impact_assessment(plates, "en"))


def test_every_registry_figure_is_the_one_its_document_reports() -> None:
    """The registry holds the figures the assessment prints; the docs say the same numbers."""
    root = Path(__file__).resolve().parents[2]
    figures = [(m.name, f) for m in default_registry() for f in m.measured]
    assert {name for name, _f in figures} >= {"yolox_nano", "ppocr_v6_det_small"}
    for name, figure in figures:
        document = (root / figure.source).read_text(encoding="utf-8")
        for number in re.findall(r"\d+(?:\.\d+)?", figure.value):
            assert number in document, (name, figure.metric, number, figure.source)
        assert not figure.held_out or "held" in document


def test_the_paperwork_is_tracked_in_the_assessment() -> None:
    lacking = render_markdown(impact_assessment(town(), "en"))
    assert "## 1.5 Impact assessment, authorisation and signs" in lacking
    assert "| Impact assessment reference | [not set] |" in lacking
    assert "| Signs posted at every camera | no |" in lacking
    assert "Record the impact assessment's reference and date" in lacking
    assert "Print and put up the signs" in lacking
    config = EngineConfig.model_validate(
        {
            "cameras": [{"id": "square", "source": "rtsp://192.0.2.1/s"}],
            "privacy": {
                "context": "public_space",
                "paperwork": {
                    "assessment_reference": "AIPD-2026-014",
                    "assessment_date": "2026-11-30",
                    "authorisation_reference": "Arrêté préfectoral n° 2026-117",
                    "signs_posted": True,
                },
            },
        }
    )
    summary = ProcessingSummary.from_config(config, generated_at=NOW, version="0.1.0")
    done = render_markdown(impact_assessment(summary, "fr"))
    assert "| Référence de l'analyse d'impact | AIPD-2026-014 |" in done
    assert "| Date de l'analyse d'impact | 30 novembre 2026 |" in done
    assert "| Référence de l'autorisation | Arrêté préfectoral n° 2026-117 |" in done
    assert "| Panneaux d'information posés à chaque caméra | oui |" in done
    assert "Inscrire la référence et la date de l'analyse d'impact" not in done
    assert "Obtenir ou consigner l'autorisation" not in done
    assert "posez les panneaux" not in done.lower() and "apposer" not in done.lower()
