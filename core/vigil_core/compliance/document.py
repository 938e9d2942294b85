"""A small document model (headings, paragraphs, lists, tables, fields to fill) and its renderers.

The impact assessment, the record of processing and the signs are built once as a `Document`
and rendered to Markdown and to PDF from the same blocks, so both always say the same thing.
The PDF uses fpdf2's built-in Helvetica (no font file to ship): its Latin-1 range covers French
accents, and the few typographic characters outside it are replaced by their plain forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
import unicodedata

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace


@dataclass(frozen=True, slots=True)
class Heading:
    """A section title (level 1 is the document's parts, 2 and 3 below)."""

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Running text."""

    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    """A list of items."""

    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under a header; `widths` are relative column widths."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ToFill:
    """Something the controller must still write: a labelled empty box."""

    label: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class PageBreak:
    """Start a new page (PDF); a rule in Markdown."""


type Block = Heading | Paragraph | Bullets | Table | ToFill | PageBreak


@dataclass(frozen=True, slots=True)
class Document:
    """A titled sequence of blocks."""

    title: str
    subtitle: str
    blocks: tuple[Block, ...]
    footer: str = ""
    to_fill_label: str = "To be completed"
    language: str = "en"
    created: datetime | None = None
    large: bool = False
    """Print for walls (signs): larger type."""
    metadata: dict[str, str] = field(default_factory=dict)


# --- Markdown ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(document: Document) -> str:
    """Return the document as Markdown."""
    out = [f"# {document.title}", "", f"*{document.subtitle}*", ""]
    for block in document.blocks:
        out += _markdown_block(block, document)
        out.append("")
    if document.footer:
        out += ["---", "", f"*{document.footer}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _markdown_block(block: Block, document: Document) -> list[str]:
    match block:
        case Heading(level, text):
            return [f"{'#' * (level + 1)} {text}"]
        case Paragraph(text):
            return [text]
        case Bullets(items):
            return [f"- {item}" for item in items]
        case Table(header, rows, _widths):
            lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
            return lines
        case ToFill(label, hint):
            lines = [f"> **{document.to_fill_label} — {label}**"]
            if hint:
                lines += [">", f"> *{hint}*"]
            lines += [">", "> …", ">", "> …"]
            return lines
        case PageBreak():
            return ["---"]


# --- PDF ---------------------------------------------------------------------------------------

_PLAIN = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u20ac": "EUR",
        "\u202f": "\u00a0",
        "\u2009": " ",
        "\u2022": "\u00b7",
        "\u2192": "->",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2713": "x",
    }
)


def latin1(text: str) -> str:
    """Return text Helvetica can print: Latin-1, typographic characters made plain."""
    return "".join(_latin1_char(char) for char in text.translate(_PLAIN))


def _latin1_char(char: str) -> str:
    if ord(char) < 256:
        return char
    base = "".join(
        c
        for c in unicodedata.normalize("NFKD", char)
        if ord(c) < 256 and not unicodedata.combining(c)
    )
    return base or "?"


_INK = (33, 37, 41)
_ACCENT = (21, 67, 96)
_MUTED = (100, 106, 112)
_FILL = (246, 241, 222)
_RULE = (200, 204, 208)


class _Pdf(FPDF):
    def __init__(self, document: Document) -> None:
        super().__init__(format="A4")
        self.document = document
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(latin1(document.title))
        self.set_author("Vigil")
        self.set_creator("Vigil")
        self.set_lang(document.language)
        if document.created is not None:
            self.set_creation_date(document.created)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=7.5)
        self.set_text_color(*_MUTED)
        text = latin1(self.document.footer)
        self.cell(0, 5, text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="R")


def render_pdf(document: Document) -> bytes:
    """Return the document as a PDF (A4)."""
    pdf = _Pdf(document)
    scale = 1.4 if document.large else 1.0
    pdf.add_page()
    if not document.large:  # a sign is for walls: its own heading is its title
        _title(pdf, document, scale)
    for block in document.blocks:
        _pdf_block(pdf, block, document, scale)
    return bytes(pdf.output())


def _title(pdf: _Pdf, document: Document, scale: float) -> None:
    pdf.set_text_color(*_ACCENT)
    pdf.set_font("helvetica", "B", 18 * scale)
    pdf.multi_cell(0, 8.5 * scale, latin1(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", "I", 9.5 * scale)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(0, 5 * scale, latin1(document.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.6)
    y = pdf.get_y() + 2
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 4)


def _pdf_block(pdf: _Pdf, block: Block, document: Document, scale: float) -> None:
    pdf.set_text_color(*_INK)
    match block:
        case Heading(level, text):
            size = {1: 14.0, 2: 12.0}.get(level, 10.5) * scale
            if pdf.get_y() > pdf.h - 50:
                pdf.add_page()
            pdf.ln(3 if level > 1 else 5)
            pdf.set_font("helvetica", "B", size)
            pdf.set_text_color(*(_ACCENT if level == 1 else _INK))
            pdf.multi_cell(0, size * 0.5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1.5)
        case Paragraph(text):
            pdf.set_font("helvetica", size=9.5 * scale)
            pdf.multi_cell(0, 4.8 * scale, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2)
        case Bullets(items):
            pdf.set_font("helvetica", size=9.5 * scale)
            for item in items:
                pdf.set_x(pdf.l_margin + 2)
                pdf.cell(5 * scale, 4.8 * scale, "\u00b7")
                pdf.multi_cell(
                    0, 4.8 * scale, latin1(item), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
                )
                pdf.ln(0.8)
            pdf.ln(1.5)
        case Table(header, rows, widths):
            _table(pdf, header, rows, widths, scale)
        case ToFill(label, hint):
            _to_fill(pdf, label, hint, document.to_fill_label, scale)
        case PageBreak():
            pdf.add_page()


def _table(
    pdf: _Pdf,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    scale: float,
) -> None:
    pdf.set_font("helvetica", size=8.5 * scale)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    with pdf.table(
        col_widths=tuple(widths) or None,
        line_height=4.4 * scale,
        padding=1.2,
        headings_style=_heading_style(scale),
        cell_fill_color=(248, 249, 250),
        cell_fill_mode="ROWS",
        text_align="LEFT",
    ) as table:
        table.row([latin1(h) for h in header])
        for row in rows:
            table.row([latin1(c) for c in row])
    pdf.ln(3)


def _heading_style(scale: float) -> FontFace:
    return FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=_ACCENT, size_pt=8.5 * scale)


def _to_fill(pdf: _Pdf, label: str, hint: str, prefix: str, scale: float) -> None:
    height = 24 * scale
    if pdf.get_y() + height + 10 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.set_font("helvetica", "B", 9 * scale)
    pdf.set_text_color(*_ACCENT)
    pdf.multi_cell(
        0, 4.6 * scale, latin1(f"{prefix} — {label}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    if hint:
        pdf.set_font("helvetica", "I", 8.5 * scale)
        pdf.set_text_color(*_MUTED)
        pdf.multi_cell(0, 4.2 * scale, latin1(hint), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y() + 1
    pdf.set_fill_color(*_FILL)
    pdf.set_draw_color(*_RULE)
    pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, height, style="DF")
    pdf.set_y(top + height + 4)
