"""The CER as a Word document a regulatory writer can edit.

Why it is shaped like this:
- Real Word structure, not look-alikes: headings use the built-in "Heading 1/2/3" styles
  (so Word's navigation pane and the TOC field work), tables are real tables with a
  repeating header row, charts are pictures with a "Caption" paragraph. The writer edits
  the document; nothing is a screenshot of text.
- The same `Narrative` as the HTML/PDF, walked block by block, so the headings and tables
  are the same in every format. Only narrative tables are Word tables (the cover uses
  paragraphs), so `document.tables` lines up with the narrative's tables.
- The table of contents is a TOC field whose result is already written (one hyperlinked
  entry per heading, `docx_layout.write_toc`), so LibreOffice and viewers show it; Word
  adds the page numbers when it updates the field on opening (`updateFields`).
- Wide tables and the short sections around them are landscape sections with column
  widths fitted to the content (`docx_layout`), as in the PDF.
- python-docx takes raster images only, so charts come as PNG from the same figures as the
  SVGs (`charts.make_charts_png`).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Mm, Pt, RGBColor
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph

from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Block, Narrative
from cerflow.report.cover import GENERATED_BANNER, GENERATED_NOTE, cover_rows
from cerflow.report.docx_layout import (
    TocEntry,
    add_bookmark,
    apply_column_widths,
    bookmark_name,
    column_widths_mm,
    is_token,
    set_orientation,
    usable_width_mm,
    write_toc,
)
from cerflow.report.html import WIDE_TABLE_COLUMNS, is_wide_table, landscape_ids

WRITER_INPUT_LABEL = "Input required from the manufacturer"
_NUMERIC_CELL = re.compile(r"^[<>≤≥~]?\s*[-+]?\d[\d,]*(\.\d+)?\s*%?$")
_CHART_WIDTH = Inches(6.4)


def _shade(paragraph_or_cell_pr: Any, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    paragraph_or_cell_pr.append(shd)


def _box(paragraph: Paragraph, colour: str, fill: str, size: int = 12) -> None:
    """Border and shading on a paragraph (consecutive boxed paragraphs share one box)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "4")
        el.set(qn("w:color"), colour)
        borders.append(el)
    ppr.append(borders)
    _shade(ppr, fill)


def _field(paragraph: Paragraph, instruction: str, placeholder: str = "") -> None:
    """A complex field (PAGE, NUMPAGES, TOC ...) that Word computes."""
    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    begin.set(qn("w:dirty"), "true")
    run._r.append(begin)
    run = paragraph.add_run()
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run._r.append(instr)
    run = paragraph.add_run()
    sep = OxmlElement("w:fldChar")
    sep.set(qn("w:fldCharType"), "separate")
    run._r.append(sep)
    paragraph.add_run(placeholder)
    run = paragraph.add_run()
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run._r.append(end)


def _update_fields_on_open(doc: DocxDocument) -> None:
    settings = doc.settings.element
    el = OxmlElement("w:updateFields")
    el.set(qn("w:val"), "true")
    settings.append(el)


def _repeat_header(row_tr: Any) -> None:
    trpr = row_tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    trpr.append(el)


def _page_setup(doc: DocxDocument, facts: Facts, sha: str) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(18)
    section.top_margin, section.bottom_margin = Mm(20), Mm(22)
    section.different_first_page_header_footer = True

    header = section.header.paragraphs[0]
    header.text = f"{facts.product.display_name}\t\t{facts.meta.report_id}"
    for run in header.runs:
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)

    for footer in (section.footer, section.first_page_footer):
        p = footer.paragraphs[0]
        label = p.add_run(f"facts.json SHA-256: {sha}")
        label.font.size = Pt(6.5)
        label.font.name = "Consolas"
        p2 = footer.add_paragraph()
        p2.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p2.add_run("Page ")
        _field(p2, "PAGE", "1")
        p2.add_run(" of ")
        _field(p2, "NUMPAGES", "1")
        for run in p2.runs:
            run.font.size = Pt(8)

    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10)


def _cover(doc: DocxDocument, facts: Facts, sha: str, llm_note: str) -> None:
    meta = facts.meta
    if meta.generated_data:
        banner = doc.add_paragraph()
        banner.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = banner.add_run(GENERATED_BANNER)
        run.bold = True
        run.font.size = Pt(13)
        _box(banner, "000000", "F0E442", size=18)
        note = doc.add_paragraph(GENERATED_NOTE)
        note.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _box(note, "000000", "F0E442", size=18)
    kind = doc.add_paragraph()
    is_cer = facts.cer is not None and facts.cer.is_cer
    kind_run = kind.add_run("CLINICAL EVALUATION REPORT" if is_cer else "POST-MARKET SAFETY DATA")
    kind_run.font.color.rgb = RGBColor(0x00, 0x72, 0xB2)
    kind_run.bold = True
    doc.add_paragraph(meta.title, style="Title")
    doc.add_paragraph(facts.product.display_name, style="Subtitle")
    for label, value in cover_rows(facts, llm_note, sha=sha):
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(2)
        p.add_run(f"{label}: ").bold = True
        p.add_run(value)
    basis = doc.add_paragraph()
    basis.add_run("Regulatory basis: ").bold = True
    basis.add_run("; ".join(meta.regulatory_basis))
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _toc(doc: DocxDocument, narrative: Narrative) -> None:
    doc.add_paragraph("Contents", style="TOC Heading")
    write_toc(
        doc,
        [
            TocEntry(
                level=min(max(s.level, 1), 3),
                text=f"{s.number} {s.title}",
                bookmark=bookmark_name(s.id),
            )
            for s in narrative.sections
        ],
    )
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _table(doc: DocxDocument, block: Block) -> DocxTable:
    assert block.table is not None
    t = block.table
    wide = is_wide_table(t)
    switched = wide and set_orientation(doc, True)
    caption = doc.add_paragraph(t.caption, style="Caption")
    caption.paragraph_format.keep_with_next = True
    table: DocxTable = doc.add_table(rows=1, cols=len(t.columns))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = table.rows[0]
    _repeat_header(header._tr)
    for cell, text in zip(header.cells, t.columns, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        run.font.size = Pt(6.5) if len(t.columns) >= WIDE_TABLE_COLUMNS else Pt(8)
        _shade(cell._tc.get_or_add_tcPr(), "E6EEF5")
    size = Pt(6.5) if len(t.columns) >= WIDE_TABLE_COLUMNS else Pt(8)
    for row in t.rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=False):
            para = cell.paragraphs[0]
            run = para.add_run(text)
            run.font.size = size
            if _NUMERIC_CELL.match(text.strip()):
                para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            elif is_token(text):
                run.font.name = "Consolas"
    apply_column_widths(table, column_widths_mm(t.columns, t.rows, usable_width_mm(doc), size.pt))
    doc.add_paragraph()
    if switched:
        set_orientation(doc, False)
    return table


def _writer_input(doc: DocxDocument, text: str) -> None:
    label = doc.add_paragraph()
    run = label.add_run(WRITER_INPUT_LABEL.upper())
    run.bold = True
    label.paragraph_format.keep_with_next = True
    label.paragraph_format.space_after = Pt(0)
    _box(label, "D55E00", "FDF0E6")
    body = doc.add_paragraph(text)
    _box(body, "D55E00", "FDF0E6")


def _supplied(doc: DocxDocument, block: Block) -> None:
    """Text from the CER inputs: a blue label, then the writer's paragraphs or table."""
    label = doc.add_paragraph()
    run = label.add_run(f"Supplied in the CER inputs: {block.text}")
    run.bold = True
    run.font.size = Pt(8.5)
    run.font.color.rgb = RGBColor(0x00, 0x72, 0xB2)
    label.paragraph_format.keep_with_next = True
    for item in block.items:
        doc.add_paragraph(item)
    if block.table is not None:
        _table(doc, block)


def write_docx(
    facts: Facts,
    narrative: Narrative,
    target: Path,
    *,
    chart_pngs: dict[str, bytes],
    llm_note: str = "",
) -> Path:
    """Write the CER as `.docx` (same sections, tables and charts as the HTML/PDF)."""
    sha = facts.sha256()
    doc = Document()
    _page_setup(doc, facts, sha)
    _update_fields_on_open(doc)
    props = doc.core_properties
    props.title = f"{facts.meta.title}: {facts.product.display_name}"
    props.author = f"cerflow {facts.meta.cerflow_version}"
    props.subject = facts.product.display_name
    props.identifier = facts.meta.report_id
    props.version = str(facts.meta.version)
    props.keywords = f"CER; {facts.product.query}; facts.json SHA-256 {sha}"
    props.created = facts.meta.generated_at.replace(tzinfo=None)
    props.modified = facts.meta.generated_at.replace(tzinfo=None)
    props.last_modified_by = "cerflow"
    props.revision = facts.meta.version

    _cover(doc, facts, sha, llm_note)
    _toc(doc, narrative)
    landscape = landscape_ids(narrative.sections)
    for bookmark_id, section in enumerate(narrative.sections, start=1):
        set_orientation(doc, section.id in landscape)
        heading = doc.add_heading(
            f"{section.number} {section.title}", level=min(max(section.level, 1), 3)
        )
        add_bookmark(heading, bookmark_name(section.id), bookmark_id)
        for block in section.blocks:
            if block.kind == "paragraph":
                doc.add_paragraph(block.text)
            elif block.kind == "bullets":
                for item in block.items:
                    doc.add_paragraph(item, style="List Bullet")
            elif block.kind == "table" and block.table is not None:
                _table(doc, block)
            elif block.kind == "chart":
                png = chart_pngs.get(block.chart_id or "")
                if png is None:
                    p = doc.add_paragraph()
                    text = "No chart: there are no data for this analysis"
                    if block.text:
                        text += f" ({block.text.rstrip('.')})"
                    p.add_run(text + ".").italic = True
                    continue
                pic = doc.add_paragraph()
                pic.alignment = WD_ALIGN_PARAGRAPH.CENTER
                pic.paragraph_format.keep_with_next = True
                shape = pic.add_run().add_picture(io.BytesIO(png), width=_CHART_WIDTH)
                shape._inline.docPr.set("descr", block.text)  # alt text, as in the PDF
                doc.add_paragraph(block.text, style="Caption")
            elif block.kind == "writer_input":
                _writer_input(doc, block.text)
            elif block.kind == "supplied":
                _supplied(doc, block)
    doc.save(str(target))
    return target
