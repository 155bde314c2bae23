"""The CER as one HTML document: the standalone `.html` and the source of the PDF.

Why it is shaped like this:
- One template renders both the HTML file and the PDF (WeasyPrint reads the same string),
  so the two cannot disagree; the CSS is inlined so the `.html` is a single
  self-contained file a reviewer can open or archive.
- Charts are inlined as SVG (vector, searchable structure). Matplotlib names the ids in
  every SVG alike (`axes_1`, glyph ids), so each chart's ids get its chart id as prefix:
  an HTML document must not repeat an id, and a `<use>` must not pick another chart's glyph.
- Jinja2 autoescaping is on: report text comes from data (product names, recall reasons)
  and must never become markup.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from importlib import resources

import jinja2
import markupsafe

from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Narrative, Section, Table
from cerflow.report.cover import GENERATED_BANNER, GENERATED_NOTE, cover_rows, llm_note
from cerflow.report.table_widths import fits_width

_NUMERIC_CELL = re.compile(r"^[<>≤≥~]?\s*[-+]?\d[\d,]*(\.\d+)?\s*%?$")
_SVG_START = re.compile(r"<svg\b")
_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


WIDE_TABLE_COLUMNS = 9  # from this many columns a table gets a landscape page
LONG_CELL_CHARS = 160  # a cell longer than this may wrap past a page: the table may break
_LONG_TOKEN = re.compile(r"[^\s]{25,}")


def _is_long_token(value: object) -> bool:
    return isinstance(value, str) and bool(_LONG_TOKEN.search(value))


_TOKEN_CHUNK = 32  # a long token (SHA-256, file name, URL) breaks every 32 characters at most
_TOKEN_BREAK_AFTER = re.compile(r"(?<=[/_.\-?&=])")


def token_breaks(value: str, chunk: int = _TOKEN_CHUNK) -> markupsafe.Markup:
    """`value` escaped, with `<wbr>` break opportunities after `/ _ . - ? & =` and inside
    any run longer than `chunk`: a SHA-256 wraps as two lines of 32 hex digits instead
    of one character per line, and the cell's minimum width stays sane (no
    `word-break: break-all`, which lets a table squeeze the column to one character)."""
    pieces: list[str] = []
    for part in _TOKEN_BREAK_AFTER.split(value):
        pieces.extend(part[i : i + chunk] for i in range(0, len(part), chunk))
    return markupsafe.Markup("<wbr>").join(markupsafe.escape(p) for p in pieces if p)


PORTRAIT_TEXT_MM = 174.0  # A4 portrait minus the 18 mm side margins (report.css @page)
_TABLE_FONT_PT = 8.0  # table.data font size on portrait pages


def is_wide_table(table: Table, wide_columns: int = 0) -> bool:
    """A table that needs a landscape page: many columns (`WIDE_TABLE_COLUMNS`) whose
    longest words do not fit side by side on a portrait page. A table with many short
    columns stays portrait (and leaves no half-empty landscape page behind)."""
    wide_columns = wide_columns or WIDE_TABLE_COLUMNS
    if len(table.columns) < wide_columns:
        return False
    return not fits_width(table.columns, table.rows, PORTRAIT_TEXT_MM, _TABLE_FONT_PT)


def landscape_section(section: Section, wide_columns: int = 0) -> bool:
    """A short section around a wide table goes onto the landscape page whole: its
    heading and lead paragraph would otherwise sit alone on a near-empty portrait page."""
    wide_columns = wide_columns or WIDE_TABLE_COLUMNS
    has_wide = any(
        b.kind == "table" and b.table is not None and is_wide_table(b.table, wide_columns)
        for b in section.blocks
    )
    if not has_wide:
        return False
    if any(b.kind == "chart" for b in section.blocks):
        return False
    narrow_rows = sum(
        len(b.table.rows)
        for b in section.blocks
        if b.kind == "table" and b.table is not None and not is_wide_table(b.table, wide_columns)
    )
    if narrow_rows > 12:  # long portrait-friendly tables stay portrait
        return False
    text = sum(len(b.text) + sum(len(i) for i in b.items) for b in section.blocks)
    return text <= 2500


def landscape_ids(sections: list[Section], wide_columns: int = 0) -> set[str]:
    """Ids of the sections set on landscape pages: the short sections around a wide table,
    and a heading-only chapter that opens one (its heading must not end a portrait page)."""
    ids = {s.id for s in sections if landscape_section(s, wide_columns)}
    for current, following in itertools.pairwise(sections):
        if not current.blocks and following.id in ids:
            ids.add(current.id)
    return ids


def keep_table(table: Table, wide_columns: int = 0) -> bool:
    """Keep a table on one page with its caption when it surely fits one: a table that
    does not fit would be pushed to the next page anyway and leave its caption behind."""
    wide_columns = wide_columns or WIDE_TABLE_COLUMNS
    limit = 10 if is_wide_table(table, wide_columns) else 25
    # A long cell (a MAUDE import's list of files) wraps into many lines: few rows can
    # then fill a page, and a table kept whole would leave a near-empty page behind it.
    longest = max((len(str(c)) for row in table.rows for c in row), default=0)
    return len(table.rows) <= limit and longest <= LONG_CELL_CHARS


def _is_numeric_cell(value: object) -> bool:
    return isinstance(value, str) and bool(_NUMERIC_CELL.match(value.strip()))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cerflow.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.tests["numeric_cell"] = _is_numeric_cell
    env.tests["long_token"] = _is_long_token
    env.filters["svg_alt"] = svg_with_alt
    env.filters["token_breaks"] = token_breaks
    env.tests["keep_table"] = keep_table
    env.tests["wide_table"] = is_wide_table
    return env


@cache
def report_css() -> str:
    return resources.files("cerflow.report").joinpath("templates/report.css").read_text("utf-8")


def inline_svg(svg: str, prefix: str) -> str:
    """The `<svg>` element of an SVG file, with its ids made unique by `prefix`."""
    match = _SVG_START.search(svg)
    if match is None:
        raise ValueError(f"chart {prefix!r} is not an SVG document (no <svg> element)")
    body = svg[match.start() :]
    body = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = _HREF.sub(lambda m: f'{m.group(1)}="#{prefix}-{m.group(2)}"', body)
    body = _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", body)
    return body.strip()


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def svg_with_alt(svg: str, alt: str) -> str:
    """The inline SVG with `alt` as its accessible name: a `<title>` as the first child
    (WeasyPrint's tagged PDF takes a figure's /Alt from it; browsers and screen readers
    read it too) and `role="img"` on the element. `alt` is escaped."""
    match = _SVG_OPEN.search(svg)
    if match is None:
        raise ValueError("not an inline SVG (no <svg> element)")
    text = " ".join(alt.split()) or "Chart"
    opening = match.group(0)
    if "role=" not in opening:
        opening = opening[:-1].rstrip("/") + ' role="img">'
    title = f"<title>{markupsafe.escape(text)}</title>"
    return svg[: match.start()] + opening + title + svg[match.end() :]


def render_html(facts: Facts, narrative: Narrative, charts: dict[str, str]) -> str:
    """The full HTML document (cover, contents, sections, charts inline)."""
    meta = facts.meta
    note = llm_note(narrative)
    sha = facts.sha256()
    template = _environment().get_template("report.html.j2")
    return template.render(
        meta=meta,
        product=facts.product,
        cer=facts.cer,
        sections=narrative.sections,
        charts={cid: inline_svg(svg, f"c-{cid}") for cid, svg in charts.items()},
        css=report_css(),
        facts_sha256=sha,
        cutoff=meta.data_cutoff.isoformat() if meta.data_cutoff else "not stated",
        cover_rows=cover_rows(facts, note, sha=sha),
        generated_at=meta.generated_at.isoformat(),
        generated_banner=GENERATED_BANNER,
        generated_note=GENERATED_NOTE,
        wide_columns=WIDE_TABLE_COLUMNS,
        landscape=landscape_ids(narrative.sections),
    )
