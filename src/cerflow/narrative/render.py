"""`Facts` -> `Narrative` through Jinja2 templates, one per CER chapter.

    write_narrative(facts) -> Narrative

Why templates carry a tiny block markup instead of HTML: the same `Narrative` feeds the
HTML/PDF and the DOCX renderers, so a template says *what* a block is, not how it looks::

    ::section <id> <number> <title>   starts a (sub)section; level = dots in number + 1
    ::chart <chart_id>                the next paragraph is the chart's caption
    ::writer [field]                  the next paragraph is a writer-input placeholder; with
                                      a field, the CER inputs' value replaces it when given
    ::table <caption>                 followed by "| a | b |" rows, the first is the header
    - text                            a bullet (consecutive bullets form one list)
    anything else                     paragraph text; a blank line ends the paragraph

Every number is printed through a filter below, and each filter prints a form that
`cerflow.narrative.facts.allowed_numbers` accepts for the value it was given (integers
with thousands separators, floats with 0-4 decimals, percentages with one decimal), so
the number-tracing test holds by construction rather than by luck.

Jinja2, `Facts` and the inputs filler load when a narrative is written, not with this
module: the web pages import only `flag_names`, and the API should not pay for them.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cerflow.errors import CerflowError
from cerflow.narrative.sections import Block, Narrative, Section, Table

if TYPE_CHECKING:
    from jinja2 import Environment

    from cerflow.narrative.facts import Facts

TEMPLATE_DIR = Path(__file__).parent / "templates"
NOT_ESTIMABLE = "not estimable"

CHAPTERS = (
    "01_executive_summary.j2",
    "02_scope.j2",
    "03_methods.j2",
    "04_post_market.j2",
    "05_analysis.j2",
    "06a_literature.j2",  # issue 14: literature review (chapter 6)
    "06_limitations.j2",
    "07_conclusions.j2",
    "07b_sign_off.j2",
    "08_references.j2",
    "09_appendix_tables.j2",
    "10_appendix_provenance.j2",
    "11_changes.j2",  # issue 12: changes since the previous version (versions only)
)


# --- filters: the only way a number reaches the text ------------------------------------


def fmt_int(value: int | None) -> str:
    if value is None:
        return NOT_ESTIMABLE
    return f"{int(value):,}"


def fmt_dec(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(float(value)):
        return NOT_ESTIMABLE
    if not 0 <= digits <= 4:
        raise ValueError("digits must be 0-4: only those forms are traceable")
    return f"{float(value):,.{digits}f}"


def fmt_raw(value: float | int) -> str:
    """The shortest exact form of a method constant (e.g. a tail of 0.00135)."""
    return repr(value)


def fmt_pct(value: float | None) -> str:
    """A percentage already in percent units (Facts stores them with one decimal)."""
    if value is None:
        return NOT_ESTIMABLE
    return f"{float(value):.1f}%"


def fmt_p(value: float | None, floor: float = 0.0001) -> str:
    if value is None:
        return NOT_ESTIMABLE
    if value < floor:
        return f"< {floor:.4f}"
    return f"{value:.4f}"


def fmt_p_stat(value: float | None, floor: float = 0.0001) -> str:
    """'p = 0.0123' or 'p < 0.0001' inside a sentence."""
    if value is None:
        return f"p {NOT_ESTIMABLE}"
    if value < floor:
        return f"p < {floor:.4f}"
    return f"p = {value:.4f}"


def fmt_date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def cell(value: Any) -> str:
    """Table cells are separated by '|': keep that character out of the content."""
    if value is None:
        return "-"
    text = " ".join(str(value).split())
    return text.replace("|", "/") or "-"


def plural(n: int, word: str, many: str | None = None) -> str:
    return word if n == 1 else (many or word + "s")


def join_and(items: list[str], limit: int | None = None) -> str:
    items = [str(i) for i in items]
    if limit is not None and len(items) > limit:
        return ", ".join(items[:limit]) + " and others"
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


FLAG_NAMES = {"evans": "PRR (Evans)", "ror": "ROR025", "ic": "IC025", "ebgm": "EB05"}


def flag_names(flags: list[str]) -> str:
    return ", ".join(FLAG_NAMES.get(f, f) for f in flags) or "none"


def _environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # Plain-text templates: the HTML, DOCX and PDF renderers escape the finished text for
    # their format (the HTML one with autoescape on), so escaping here would double it.
    env = Environment(  # nosec B701
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # plain text: the document renderers escape for their format
    )
    env.filters.update(
        n=fmt_int,
        dec=fmt_dec,
        raw=fmt_raw,
        pct=fmt_pct,
        pval=fmt_p,
        pstat=fmt_p_stat,
        date=fmt_date,
        cell=cell,
        plural=plural,
        join_and=join_and,
        flag_names=flag_names,
    )
    return env


_ENV: Environment | None = None


def environment() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


# --- block markup -> sections ----------------------------------------------------------


class TemplateMarkupError(CerflowError, ValueError):
    """A template produced markup the parser cannot place (a bug in a template)."""

    status_code = 500


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_blocks(text: str, source: str) -> list[Section]:
    """Turn one rendered template into sections (see the module docstring)."""
    sections: list[Section] = []
    para: list[str] = []
    bullets: list[str] = []
    pending: tuple[str, str] | None = None  # ("chart", id) | ("writer", field or "")
    table: Table | None = None

    def current() -> Section:
        if not sections:
            raise TemplateMarkupError(f"{source}: content before the first ::section line")
        return sections[-1]

    def flush() -> None:
        nonlocal para, bullets, pending, table
        if table is not None:
            if not table.columns:
                raise TemplateMarkupError(f"{source}: table {table.caption!r} has no header")
            current().blocks.append(Block(kind="table", text=table.caption, table=table))
            table = None
        if bullets:
            current().blocks.append(Block(kind="bullets", items=bullets))
            bullets = []
        if para or pending:
            body = " ".join(" ".join(para).split())
            if pending and pending[0] == "chart":
                current().blocks.append(Block(kind="chart", chart_id=pending[1], text=body))
            elif pending and pending[0] == "writer":
                current().blocks.append(
                    Block(kind="writer_input", text=body, input_key=pending[1] or None)
                )
            elif body:
                current().blocks.append(Block(kind="paragraph", text=body))
            para, pending = [], None

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("::"):
            flush()
            directive, _, rest = line[2:].partition(" ")
            if directive == "section":
                parts = rest.split(" ", 2)
                if len(parts) != 3:
                    raise TemplateMarkupError(f"{source}: bad section line {line!r}")
                sid, number, title = parts
                level = number.count(".") + 1
                sections.append(Section(id=sid, number=number, title=title, level=level))
            elif directive == "chart":
                pending = ("chart", rest.strip())
            elif directive == "writer":
                pending = ("writer", rest.strip())
            elif directive == "table":
                table = Table(caption=rest.strip(), columns=[], rows=[])
            else:
                raise TemplateMarkupError(f"{source}: unknown directive {line!r}")
            continue
        if table is not None and line.startswith("|"):
            cells = _split_row(line)
            if not table.columns:
                table.columns = cells
            elif len(cells) != len(table.columns):
                raise TemplateMarkupError(
                    f"{source}: row of {len(cells)} cells in table {table.caption!r} "
                    f"with {len(table.columns)} columns: {line!r}"
                )
            else:
                table.rows.append(cells)
            continue
        if not line:
            flush()
            continue
        if table is not None:
            flush()
        if line.startswith("- ") and not pending:
            if para:
                flush()
            bullets.append(" ".join(line[2:].split()))
            continue
        if bullets:
            flush()
        para.append(line)
    flush()
    return sections


def write_narrative(facts: Facts) -> Narrative:
    """The template narrative of the whole CER, in chapter order."""
    from cerflow.narrative.inputs import fill_inputs

    env = environment()
    sections: list[Section] = []
    for name in CHAPTERS:
        text = env.get_template(name).render(f=facts, NA=NOT_ESTIMABLE)
        sections.extend(parse_blocks(text, name))
    ids = [s.id for s in sections]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise TemplateMarkupError(f"duplicate section ids: {sorted(dupes)}")
    return Narrative(sections=fill_inputs(sections, facts), llm={"enabled": False})
