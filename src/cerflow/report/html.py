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

import re
from functools import cache
from importlib import resources

import jinja2

from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Narrative

_NUMERIC_CELL = re.compile(r"^[<>≤≥~]?\s*[-+]?\d[\d,]*(\.\d+)?\s*%?$")
_SVG_START = re.compile(r"<svg\b")
_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


WIDE_TABLE_COLUMNS = 9  # from this many columns a table gets a landscape page
_LONG_TOKEN = re.compile(r"[^\s]{25,}")


def _is_long_token(value: object) -> bool:
    return isinstance(value, str) and bool(_LONG_TOKEN.search(value))


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


def _llm_note(narrative: Narrative) -> str:
    llm = narrative.llm or {}
    model = llm.get("model")
    if not model:
        return ""
    if llm.get("accepted"):
        return f"narrative polished by {model}, numbers checked against facts.json"
    return f"language-model rewrite by {model} rejected; template text kept"


def render_html(facts: Facts, narrative: Narrative, charts: dict[str, str]) -> str:
    """The full HTML document (cover, contents, sections, charts inline)."""
    meta = facts.meta
    volumes = facts.volumes
    start = meta.review_start or volumes.period_start  # the review period (issue 11 item 6)
    end = meta.review_end or volumes.period_end
    period = f"{start.isoformat()} to {end.isoformat()}" if start and end else "no dated reports"
    template = _environment().get_template("report.html.j2")
    return template.render(
        meta=meta,
        product=facts.product,
        cer=facts.cer,
        sections=narrative.sections,
        charts={cid: inline_svg(svg, f"c-{cid}") for cid, svg in charts.items()},
        css=report_css(),
        facts_sha256=facts.sha256(),
        cutoff=meta.data_cutoff.isoformat() if meta.data_cutoff else "not stated",
        period=period,
        generated_at=meta.generated_at.isoformat(),
        generated_at_text=meta.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip(),
        llm_note=_llm_note(narrative),
        wide_columns=WIDE_TABLE_COLUMNS,
    )
