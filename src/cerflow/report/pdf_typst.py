"""The CER's PDF from Typst (the default renderer): tagged PDF/A-3b + PDF/UA-1, facts.json
attached.

    write_pdf_typst(facts, narrative, charts, target, facts_json=...) -> target

Why it is shaped like this:
- Speed (issue 17 goal 4): the same document costs Typst a tenth of WeasyPrint's CPU time
  or less (benchmarks/pdf_renderers.py); the PDF was most of a report's time.
- The same content as the HTML/WeasyPrint rendition: the template `templates/cer.typ` gets
  the `Narrative`'s sections (every paragraph, list, table, chart and input box), the
  cover's fields from `cover.cover_rows` (shared with HTML and DOCX) and the same
  matplotlib SVG charts, with the same decisions the HTML makes (numeric cells, long
  tokens, tables kept whole, landscape pages) taken here by the same functions.
- Data go in as JSON through `sys.inputs` and every string is inserted as text, never
  parsed as Typst markup: report text from data needs no escaping and cannot inject any.
- Standards: PDF/A-3b (the archival profile that allows the attachment; facts.json with
  AFRelationship /Data) together with PDF/UA-1 (tagged, alt text on every chart from its
  caption, a title). Typst checks both while compiling and refuses a document that breaks
  them, so a report never silently loses them.
- Stable output: dates come from `generated_at`, and Typst derives the file identifier
  (/ID) from the document title, which carries the report id and version; the same report
  renders to the same bytes. Typst cannot be given `pdf.pdf_identifier`'s value itself.
- Fonts: DejaVu Sans (as the HTML's CSS) from the system, else Typst's built-in fonts. A
  character that no installed font has makes Typst refuse the file (PDF/A may not show a
  blank glyph): `MissingGlyphError`, on which `render_report` falls back to WeasyPrint for
  that report (and logs it). Control characters are dropped beforehand (invisible anyway).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cerflow.errors import CerflowError
from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Block, Narrative, Section, Table
from cerflow.report.cover import GENERATED_BANNER, GENERATED_NOTE, cover_rows, llm_note
from cerflow.report.html import (
    is_wide_table,
    keep_table,
    landscape_ids,
)
from cerflow.report.table_widths import text_width_mm

if TYPE_CHECKING:
    from typst import PDFStandard

PDF_STANDARDS: list[PDFStandard] = ["a-3b", "ua-1"]


class MissingGlyphError(CerflowError, RuntimeError):
    """Report text has a character no installed font can show (e.g. a CJK product name
    without a CJK font): PDF/A forbids the blank glyph, so Typst refuses the document.
    `render_report` then renders this report's PDF with WeasyPrint instead."""


_TABLE_FONT_PT = 8.0
_WIDE_TABLE_FONT_PT = 7.0
_NUMERIC_CELL = re.compile(r"^[<>≤≥~]?\s*[-+]?\d[\d,]*(\.\d+)?\s*%?$")
_LONG_TOKEN = re.compile(r"[^\s]{25,}")
_TOKEN_CHUNK = 32
_CELL_TEXT_CAP = 60  # a longer cell wraps anyway: it claims no more width (table_widths)
_CANDIDATES = 3
_TOKEN_BREAK_AFTER = re.compile(r"(?<=[/_.\-?&=])")
_ZWSP = "\u200b"  # a break opportunity that extracts as nothing (the HTML's <wbr>)
_FINE = "\ue000"  # a 16-character break opportunity, kept or removed by the template
_FINE_CHUNK = 16
_AFTER_SLASH = re.compile(r"(?<=/)(?=[^\W\d])")


TEMPLATES = Path(str(resources.files("cerflow.report").joinpath("templates")))
TEMPLATE = TEMPLATES / "cer.typ"


@cache
def typst_fonts() -> Any:
    """The system's and Typst's own fonts, found once per process (~35 ms per compile
    otherwise: a worker renders many reports)."""
    import typst

    return typst.Fonts()


def _token(value: str) -> str:
    """Break opportunities after `/ _ . - ? & =` and every 32 characters of a long run (as
    `html.token_breaks` gives the HTML: a SHA-256 wraps as two lines of 32 digits), and a
    marker every 16 that the template turns into a break opportunity only when a table's
    32-character pieces cannot all fit side by side (and removes otherwise)."""
    out: list[str] = []
    for part in _TOKEN_BREAK_AFTER.split(value):
        if not part:
            continue
        pieces = [part[i : i + _FINE_CHUNK] for i in range(0, len(part), _FINE_CHUNK)]
        text = pieces[0]
        for k, piece in enumerate(pieces[1:], start=1):
            text += (_ZWSP if k * _FINE_CHUNK % _TOKEN_CHUNK == 0 else _FINE) + piece
        out.append(text)
    return _ZWSP.join(out)


def _cell_kind(value: str) -> str:
    if _NUMERIC_CELL.match(value.strip()):
        return "n"
    if _LONG_TOKEN.search(value):
        return "t"
    return "-"


def _top(found: dict[tuple[str, str], float]) -> list[list[str]]:
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:_CANDIDATES]
    return [list(key) for key, _ in ranked]


def _candidates(texts: list[tuple[str, str]], size: float) -> dict[str, Any]:
    """The few texts of a column that decide its width, for the template to measure in the
    real fonts: the widest unbreakable words (its minimum width; `min16` with tokens cut
    every 16 characters) and the widest lines up to `_CELL_TEXT_CAP` characters (its
    preferred width). Style: b header (bold), t token (monospace), n number (never
    wraps), - text. Picked by an estimate (`table_widths`), measured exactly by Typst."""
    words: dict[tuple[str, str], float] = {}
    fine: dict[tuple[str, str], float] = {}
    lines: dict[tuple[str, str], float] = {}
    has_tokens = False
    for value, style in texts:
        mono, bold = style == "t", style == "b"
        if style == "n":
            pieces, short, line = [value], [value], value
        elif mono:
            has_tokens = True
            plain = value.replace(_ZWSP, " ").split()
            pieces = [p.replace(_FINE, "") for p in plain]
            short = [q for p in plain for q in p.split(_FINE)]
            line = value.replace(_ZWSP, "").replace(_FINE, "")[:_TOKEN_CHUNK]
        else:  # text wraps at spaces and after a slash (Unicode line breaking, as Typst does)
            pieces = short = [w for p in value.split() for w in _AFTER_SLASH.split(p)] or [""]
            line = value[:_CELL_TEXT_CAP]
        for word in pieces:
            words[(word, style)] = text_width_mm(word, size, mono=mono, bold=bold)
        for word in short:
            fine[(word, style)] = text_width_mm(word, size, mono=mono, bold=bold)
        lines[(line, style)] = text_width_mm(line, size, mono=mono, bold=bold)
    return {
        "min": _top(words),
        "min16": _top(fine) if has_tokens else None,
        "pref": _top(lines),
    }


def _table(table: Table, *, wide: bool, keep: bool, numeric: bool = True) -> dict[str, Any]:
    """Cells as text plus one kind letter each (n numeric, t token, - text), and per column
    the texts that decide its width (the template measures them and shares the width out
    as CSS's automatic table layout does, so no word sticks out of its cell)."""
    size = _WIDE_TABLE_FONT_PT if wide else _TABLE_FONT_PT
    # A Typst table fills its cells in order: every row gets exactly one cell per column
    # (the HTML shows a short row short and a long row long; here they are padded).
    n = max([len(table.columns), *(len(r) for r in table.rows)])
    columns = list(table.columns) + [""] * (n - len(table.columns))
    kinds, rows = [], []
    for row in (list(r) + [""] * (n - len(r)) for r in table.rows):
        k = "".join(_cell_kind(c) for c in row)
        if not numeric:
            k = k.replace("n", "-")
        kinds.append(k)
        rows.append([_token(c) if kind == "t" else c for c, kind in zip(row, k, strict=True)])
    widths = []
    for j, name in enumerate(columns):
        texts = [(name, "b")]
        texts += [(row[j], kind[j]) for row, kind in zip(rows, kinds, strict=True)]
        widths.append(_candidates(texts, size))
    return {
        "caption": table.caption,
        "columns": columns,
        "rows": rows,
        "kinds": kinds,
        "widths": widths,
        "wide": wide,
        "keep": keep,
    }


def _block(block: Block, charts: dict[str, str]) -> dict[str, Any] | None:
    if block.kind == "paragraph":
        return {"kind": "paragraph", "text": block.text}
    if block.kind == "bullets":
        return {"kind": "bullets", "items": list(block.items)}
    if block.kind == "table":
        if block.table is None:
            return None
        if not block.table.columns and not any(block.table.rows):
            return {"kind": "paragraph", "text": block.table.caption}  # nothing to tabulate
        return {
            "kind": "table",
            **_table(block.table, wide=is_wide_table(block.table), keep=keep_table(block.table)),
        }
    if block.kind == "chart":
        svg = charts.get(block.chart_id or "")
        if svg is None:
            reason = f" ({block.text.strip('.')})" if block.text else ""
            return {
                "kind": "no_chart",
                "text": f"No chart: there are no data for this analysis{reason}.",
            }
        alt = " ".join(block.text.split()) or "Chart"
        return {"kind": "chart", "caption": block.text, "alt": alt, "svg": svg}
    if block.kind == "writer_input":
        return {"kind": "writer_input", "text": block.text}
    if block.kind == "supplied":
        table = None
        if block.table is not None and (block.table.columns or any(block.table.rows)):
            table = _table(block.table, wide=False, keep=True, numeric=False)
        return {
            "kind": "supplied",
            "label": f"Supplied in the CER inputs: {block.text}",
            "items": list(block.items),
            "table": table,
        }
    return None


def _section(
    section: Section, charts: dict[str, str], landscape: bool, level: int
) -> dict[str, Any]:
    blocks = [b for b in (_block(x, charts) for x in section.blocks) if b is not None]
    return {
        "id": section.id,
        "number": section.number,
        "title": section.title,
        "level": level,
        "landscape": landscape,
        "blocks": blocks,
    }


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(value: Any) -> Any:
    """Every string without C0/C1 control characters (invisible in any format; a
    PDF/A file may not show them with a font that lacks them, so Typst refuses them);
    chart SVGs are passed as they are."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "svg" else _printable(v) for k, v in value.items()}
    return value


def document_title(facts: Facts) -> str:
    """The PDF's title: Typst derives the file identifier from it, so it names the report
    id and the version (a new version is a new document, a re-render the same one)."""
    meta = facts.meta
    return f"{meta.title}: {facts.product.display_name} ({meta.report_id}, version {meta.version})"


def typst_document(facts: Facts, narrative: Narrative, charts: dict[str, str]) -> dict[str, Any]:
    """Everything `cer.typ` shows, as JSON-ready data (what `sys.inputs.doc` carries)."""
    meta, product = facts.meta, facts.product
    sha = facts.sha256()
    landscape = landscape_ids(narrative.sections)
    groups: list[dict[str, Any]] = []  # consecutive sections sharing an orientation
    level = 0
    for section in narrative.sections:
        wide = section.id in landscape
        if not groups or groups[-1]["landscape"] != wide:
            groups.append({"landscape": wide, "sections": []})
        # h1-h3 as the HTML, never a skipped level (PDF/UA-1 refuses H1 followed by H3)
        level = min(max(section.level, 1), 3, level + 1)
        groups[-1]["sections"].append(_section(section, charts, wide, level))
    created = meta.generated_at
    cutoff = meta.data_cutoff.isoformat() if meta.data_cutoff else "not stated"
    return {
        "title": document_title(facts),
        "author": f"cerflow {meta.cerflow_version}",
        "description": f"{meta.title} for {product.display_name}, data cut-off {cutoff}",
        "keywords": ["CER", "post-market surveillance", product.query, meta.report_id],
        "date": list(created.timetuple()[:6]),
        "report_id": meta.report_id,
        "version": meta.version,
        "sha256": sha,
        "product": product.display_name,
        "banner": [GENERATED_BANNER, GENERATED_NOTE] if meta.generated_data else None,
        "doc_type": "Clinical Evaluation Report"
        if facts.cer is not None and facts.cer.is_cer
        else "Post-market safety data",
        "cover_title": meta.title,
        "cover": [list(row) for row in cover_rows(facts, llm_note(narrative), sha=sha)],
        "basis": list(meta.regulatory_basis),
        "groups": groups,
    }


def write_pdf_typst(
    facts: Facts,
    narrative: Narrative,
    charts: dict[str, str],
    target: Path,
    *,
    facts_json: bytes,
) -> Path:
    """Compile `templates/cer.typ` for this report into `target`."""
    import typst  # imported here: only a process that writes a PDF pays for it

    doc = _printable(typst_document(facts, narrative, charts))
    try:
        pdf = _compile(typst, doc, facts, facts_json)
    except typst.TypstError as exc:
        if "could not be displayed" in str(exc):
            raise MissingGlyphError(str(exc)) from exc
        raise
    target.write_bytes(pdf)
    return target


def _compile(typst: Any, doc: dict[str, Any], facts: Facts, facts_json: bytes) -> bytes:
    pdf: bytes = typst.compile(
        str(TEMPLATE),
        root=str(TEMPLATES),
        font_paths=typst_fonts(),
        sys_inputs={
            "doc": json.dumps(doc, ensure_ascii=False),
            "facts": facts_json.decode("utf-8"),
        },
        pdf_standards=PDF_STANDARDS,
        timestamp=int(facts.meta.generated_at.timestamp()),
    )
    return pdf
