"""DOCX layout helpers: a filled table of contents, landscape sections, fitted columns.

Why it is shaped like this (issue 12 item 7):
- python-docx cannot paginate, and a bare TOC field shows nothing until Word updates it
  (LibreOffice and viewers show it empty). So the TOC field's *result* is written here:
  one "TOC n" paragraph per heading, each a hyperlink to a bookmark on its heading. Word
  still rebuilds it with page numbers on open (`updateFields`); every other reader shows
  the entries as they are.
- Wide tables get a landscape section of their own (orientation, page size and margins
  swapped), like the PDF's named `@page wide`; headers and footers stay linked to the
  first section's, so the hash footer is on every page.
- Column widths come from the content, like CSS's automatic table layout: each column
  gets at least its longest word (a header never breaks inside "Snapshot"; a checksum
  wraps at 32 characters, not one), then the remaining width goes to the columns with
  longer text in proportion to what they would need on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph

from cerflow.report.table_widths import (
    TOKEN_CHUNK,
    column_widths_mm,
    is_token,
    text_width_mm,
)


@dataclass(frozen=True)
class TocEntry:
    level: int  # 1..3
    text: str  # "4.2 Seriousness and outcomes"
    bookmark: str  # bookmark name on the heading


def bookmark_name(section_id: str) -> str:
    """A Word bookmark name for a section id (letters, digits, underscores; <= 40 chars)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", section_id)
    return f"_Toc_{clean}"[:40]


def add_bookmark(paragraph: Paragraph, name: str, bookmark_id: int) -> None:
    """Wrap the paragraph's runs in a bookmark called `name` (ids unique per document)."""
    next_id = bookmark_id
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(next_id))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(next_id))
    p = paragraph._p
    ppr = p.find(qn("w:pPr"))
    if ppr is not None:
        ppr.addnext(start)
    else:
        p.insert(0, start)
    p.append(end)


def _toc_style(doc: DocxDocument, level: int) -> str:
    name = f"TOC {level}"
    if name not in [s.name for s in doc.styles]:
        style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = doc.styles["Normal"]
        fmt = style.paragraph_format
        fmt.left_indent = Mm(6 * (level - 1))
        fmt.space_before = Pt(3 if level == 1 else 0)
        fmt.space_after = Pt(1)
        if level == 1:
            style.font.bold = True
    return name


def _fld_char(kind: str, dirty: bool = False) -> Any:
    run = OxmlElement("w:r")
    fld = OxmlElement("w:fldChar")
    fld.set(qn("w:fldCharType"), kind)
    if dirty:
        fld.set(qn("w:dirty"), "true")
    run.append(fld)
    return run


def _instr(text: str) -> Any:
    run = OxmlElement("w:r")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {text} "
    run.append(instr)
    return run


def _hyperlink(anchor: str, text: str) -> Any:
    link = OxmlElement("w:hyperlink")
    link.set(qn("w:anchor"), anchor)
    link.set(qn("w:history"), "1")
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.set(qn("xml:space"), "preserve")
    t.text = text
    run.append(t)
    link.append(run)
    return link


def write_toc(doc: DocxDocument, entries: Sequence[TocEntry]) -> None:
    """A TOC field whose result is already filled with `entries` (hyperlinked).

    The field spans the entry paragraphs: `begin`, the instruction and `separate` open the
    first one, `end` closes the last, as Word itself stores a generated TOC.
    """
    if not entries:
        return
    paragraphs: list[Paragraph] = []
    for entry in entries:
        level = min(max(entry.level, 1), 3)
        p = doc.add_paragraph(style=_toc_style(doc, level))
        p._p.append(_hyperlink(entry.bookmark, entry.text))
        paragraphs.append(p)
    first = paragraphs[0]._p
    anchor = first.find(qn("w:pPr"))
    opening = [_fld_char("begin"), _instr('TOC \\o "1-3" \\h \\z \\u'), _fld_char("separate")]
    for element in reversed(opening):
        if anchor is not None:
            anchor.addnext(element)
        else:
            first.insert(0, element)
    paragraphs[-1]._p.append(_fld_char("end"))


def set_orientation(doc: DocxDocument, landscape: bool) -> bool:
    """Start a new section in the wanted orientation if the current one differs.

    Returns True when a section break was added. The new section keeps A4, swaps width
    and height, keeps the margins, and uses the running header and footer (not the
    cover's first-page variant)."""
    current = doc.sections[-1]
    is_landscape = current.orientation == WD_ORIENT.LANDSCAPE
    if is_landscape == landscape:
        return False
    width, height = current.page_width, current.page_height
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    short, long_ = sorted((int(width or 0), int(height or 0)))
    section.page_width, section.page_height = (
        (Emu(long_), Emu(short)) if landscape else (Emu(short), Emu(long_))
    )
    section.different_first_page_header_footer = False
    return True


def apply_column_widths(table: DocxTable, widths_mm: Sequence[float]) -> None:
    """Fixed layout with the given column widths (grid and every cell, as Word wants)."""
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    layout = tbl_pr.find(qn("w:tblLayout"))
    if layout is None:
        layout = OxmlElement("w:tblLayout")
        tbl_pr.append(layout)
    layout.set(qn("w:type"), "fixed")
    grid_cols = table._tbl.tblGrid.findall(qn("w:gridCol"))
    for col, width in zip(grid_cols, widths_mm, strict=False):
        col.set(qn("w:w"), str(int(Mm(width).twips)))
    for row in table.rows:
        for cell, width in zip(row.cells, widths_mm, strict=False):
            cell.width = Mm(width)


def usable_width_mm(doc: DocxDocument) -> float:
    section = doc.sections[-1]
    width = int(section.page_width or 0) - int(section.left_margin or 0)
    width -= int(section.right_margin or 0)
    return float(Emu(width).mm)


__all__ = [
    "TOKEN_CHUNK",
    "TocEntry",
    "add_bookmark",
    "apply_column_widths",
    "bookmark_name",
    "column_widths_mm",
    "is_token",
    "set_orientation",
    "text_width_mm",
    "usable_width_mm",
    "write_toc",
]
