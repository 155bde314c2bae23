"""Clean documents (issue 12 item 7): wrapped chart labels, one casing for event terms,
landscape sections with fitted columns, a filled DOCX table of contents, a tagged PDF/A-3b
with alt text for every chart and facts.json attached, and the DOCX through LibreOffice.

veraPDF is not installed here: the PDF/A and tagging checks are structural (pypdf reads
the catalog's /StructTreeRoot and /MarkInfo, every /Figure's /Alt, the embedded file and
the XMP pdfaid identification), not a conformance validation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docx
import lxml.html
import matplotlib.pyplot as plt
import polars as pl
import pypdf
import pytest
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn

from cerflow.narrative.facts import CountShare, Facts
from cerflow.narrative.sections import Block, Narrative, Section, Table
from cerflow.report import compute
from cerflow.report.charts import draw_charts, wrap_label
from cerflow.report.docx_layout import column_widths_mm, text_width_mm
from cerflow.report.event_terms import display_term, sentence_case
from cerflow.report.html import keep_table, landscape_ids, svg_with_alt, token_breaks
from cerflow.report.render import render_report
from tests.report.conftest import (
    PDF_RENDERERS,
    SECTION_TITLES,
    build_facts,
    build_narrative,
    pdf_from_renderer,
)

HASH = "0123456789abcdef" * 4  # 64 hex digits, like a SHA-256

# --- chart labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "width", "expected"),
    [
        ("Nausea", 30, "Nausea"),
        (
            "Insufficient Flow or Under Infusion",
            30,
            "Insufficient Flow or Under\nInfusion",
        ),
        (
            "Adverse Event Without Identified Device or Use Problem",
            30,
            "Adverse Event Without\nIdentified Device or Use\nProblem",
        ),
        ("Blood  creatine\tphosphokinase increased", 60, "Blood creatine phosphokinase increased"),
    ],
)
def test_wrap_label_wraps_at_words_and_keeps_every_word(
    label: str, width: int, expected: str
) -> None:
    wrapped = wrap_label(label, width)
    assert wrapped == expected
    assert "\u2026" not in wrapped
    assert wrapped.replace("\n", " ") == " ".join(label.split())
    assert all(len(line) <= width for line in wrapped.split("\n"))


def test_wrap_label_breaks_an_overlong_word_and_marks_a_cut_tail() -> None:
    assert wrap_label("x" * 25, 10) == "xxxxxxxxxx\nxxxxxxxxxx\nxxxxx"
    cut = wrap_label("aaaa bbbb cccc dddd eeee", 9, max_lines=2)
    assert cut == "aaaa bbbb\ncccc ddd\u2026"  # the last line stays within the width


def test_top_events_chart_prints_long_names_whole() -> None:
    facts = build_facts(rich=False)
    facts.top_events = [
        CountShare(label="Insufficient Flow or Under Infusion", count=40, percent=40.0),
        CountShare(label="Excess Flow or Over-Infusion", count=30, percent=30.0),
    ]
    figures = draw_charts(facts)
    try:
        ax = figures["top_events"].axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
    finally:
        for fig in figures.values():
            plt.close(fig)
    assert "Insufficient Flow or Under\nInfusion" in labels
    assert "Excess Flow or Over-Infusion" in labels


# --- event terms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "meddra"),
    [  # MedDRA 26.0 preferred-term spellings
        ("COMPLETED SUICIDE", "Completed suicide"),
        ("dyspepsia", "Dyspepsia"),
        ("HIV TEST POSITIVE", "HIV test positive"),
        ("STEVENS-JOHNSON SYNDROME", "Stevens-Johnson syndrome"),
        ("ELECTROCARDIOGRAM QT PROLONGED", "Electrocardiogram QT prolonged"),
        ("INTERNATIONAL NORMALISED RATIO INCREASED", "International normalised ratio increased"),
        ("BLOOD IGE INCREASED", "Blood IgE increased"),
        ("PARKINSON'S DISEASE", "Parkinson's disease"),
        ("SARS-COV-2 TEST POSITIVE", "SARS-CoV-2 test positive"),
        ("  OFF   LABEL USE ", "Off label use"),
    ],
)
def test_sentence_case_gives_meddra_spelling(raw: str, meddra: str) -> None:
    assert sentence_case(raw) == meddra


def test_display_term_prefers_a_spelling_that_kept_its_case() -> None:
    assert display_term([("COMPLETED SUICIDE", 9), ("Completed suicide", 1)]) == (
        "Completed suicide"
    )
    assert display_term([("HYPERTENSION", 3), ("hypertension", 5)]) == "Hypertension"
    # FDA's device problem names keep FDA's title case
    assert display_term([("Insufficient Flow or Under Infusion", 2)]) == (
        "Insufficient Flow or Under Infusion"
    )
    assert display_term([]) == ""


def test_facts_print_every_event_in_one_casing() -> None:
    events = pl.DataFrame(
        {
            "report_id": ["1", "2", "3", "4", "5"],
            "term": ["completed suicide"] * 3 + ["dyspepsia", "myalgia"],
            "term_raw": ["COMPLETED SUICIDE"] * 3 + ["Dyspepsia", None],
        }
    )
    assert compute._display_terms(events) == {
        "completed suicide": "Completed suicide",
        "dyspepsia": "Dyspepsia",
        "myalgia": "Myalgia",
    }


# --- HTML / PDF layout helpers ------------------------------------------------------------


def test_token_breaks_wrap_a_checksum_in_two_halves() -> None:
    assert str(token_breaks(HASH)) == f"{HASH[:32]}<wbr>{HASH[32:]}"
    assert str(token_breaks("a/b_c<d>")) == "a/<wbr>b_<wbr>c&lt;d&gt;"


def test_svg_gets_an_escaped_title_as_its_accessible_name() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10">\n<g id="x"/></svg>'
    out = svg_with_alt(svg, 'Reports per month <2024> "x"')
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="10" role="img">')
    assert "<title>Reports per month &lt;2024&gt; &#34;x&#34;</title>" in out


def _wide(rows: int = 3) -> Block:
    columns = ["Snapshot"] + [f"Column {i}" for i in range(9)]
    return Block(
        kind="table",
        table=Table(
            caption="Source snapshots", columns=columns, rows=[[HASH] + ["1,438"] * 9] * rows
        ),
    )


def test_landscape_sections_and_kept_tables() -> None:
    sections = [
        Section(id="b", number="B", title="Appendix B", level=1),
        Section(
            id="b1",
            number="B.1",
            title="Snapshots",
            level=2,
            blocks=[Block(kind="paragraph", text="Each row is one import."), _wide()],
        ),
        Section(
            id="c",
            number="C",
            title="Long",
            level=1,
            blocks=[Block(kind="paragraph", text="x" * 2600), _wide()],
        ),
        Section(
            id="d",
            number="D",
            title="Chart",
            level=1,
            blocks=[Block(kind="chart", chart_id="x"), _wide()],
        ),
    ]
    assert landscape_ids(sections) == {"b", "b1"}
    wide = _wide(10).table
    assert wide is not None and keep_table(wide)
    wide.rows.append(wide.rows[0])
    assert not keep_table(wide)  # 11 wide rows may not fit: it breaks, caption stays on top


# --- DOCX layout ---------------------------------------------------------------------------


def test_column_widths_by_hand() -> None:
    # preferred widths (one line, bold headers, 10 pt): 2 and 4 characters at 0.74 em
    # plus 4.2 mm padding: 2*10*0.74*25.4/72 + 4.2 = 9.4211, 4 -> 14.6422; they fit in
    # 48.1266 mm and are scaled by 2.
    widths = column_widths_mm(["ab", "abcd"], [], 48.1266, 10)
    assert widths == pytest.approx([18.8422, 29.2844], abs=1e-3)


def test_column_widths_keep_words_whole_and_fill_the_page() -> None:
    columns = ["Snapshot", "Query", "SHA-256"]
    rows = [["1", "synthetic sample, FAERS quarter 2022Q1 " * 3, HASH]]
    widths = column_widths_mm(columns, rows, 120, 6.5)
    assert sum(widths) == pytest.approx(120)
    assert widths[0] >= text_width_mm("Snapshot", 6.5, bold=True)
    assert widths[2] >= text_width_mm(HASH[:32], 6.5, mono=True)  # two lines, not eight
    assert widths[1] > widths[0]


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Narrative, dict[str, Path]]:
    facts: Facts = build_facts()
    narrative = build_narrative(facts)
    narrative.sections.append(
        Section(
            id="appendix-b",
            number="B",
            title="Appendix B: provenance",
            level=1,
            blocks=[Block(kind="paragraph", text="One row per import."), _wide()],
        )
    )
    out = render_report(facts, narrative, tmp_path_factory.mktemp("clean"))
    return narrative, out


@pytest.fixture(scope="module", params=PDF_RENDERERS)
def wide_pdf(
    request: pytest.FixtureRequest,
    wide_report: tuple[Narrative, dict[str, Path]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Narrative, dict[str, Path], str]:
    """The wide report's PDF from each renderer (the default run's file is Typst's)."""
    narrative, out = wide_report
    facts = Facts.model_validate_json(out["json"].read_bytes())
    out = pdf_from_renderer(facts, narrative, out, request.param, tmp_path_factory)
    return narrative, out, request.param


def test_docx_toc_is_filled_with_hyperlinked_headings(
    wide_report: tuple[Narrative, dict[str, Path]],
) -> None:
    narrative, out = wide_report
    document = docx.Document(str(out["docx"]))
    toc = [
        p
        for p in document.paragraphs
        if p.style is not None and re.fullmatch(r"TOC \d", p.style.name or "")
    ]
    expected = [f"{s.number} {s.title}" for s in narrative.sections]
    assert [p.text for p in toc] == expected
    assert [p.style.name for p in toc if p.style is not None] == [
        f"TOC {min(max(s.level, 1), 3)}" for s in narrative.sections
    ]
    body = document.element.body
    anchors = [h.get(qn("w:anchor")) for h in body.iter(qn("w:hyperlink"))]
    bookmarks = {b.get(qn("w:name")) for b in body.iter(qn("w:bookmarkStart"))}
    assert len(anchors) == len(expected) and set(anchors) <= bookmarks
    kinds = [f.get(qn("w:fldCharType")) for p in toc for f in p._p.iter(qn("w:fldChar"))]
    assert kinds == ["begin", "separate", "end"]  # the TOC field holds the entries
    assert len(SECTION_TITLES) + 1 == len(expected)


def test_docx_charts_carry_their_caption_as_alt_text(
    wide_report: tuple[Narrative, dict[str, Path]],
) -> None:
    narrative, out = wide_report
    document = docx.Document(str(out["docx"]))
    captions = [b.text for s in narrative.sections for b in s.blocks if b.kind == "chart"]
    alts = [shape._inline.docPr.get("descr") for shape in document.inline_shapes]
    assert alts == captions


def test_docx_wide_table_is_in_a_landscape_section_with_fitted_columns(
    wide_report: tuple[Narrative, dict[str, Path]],
) -> None:
    _, out = wide_report
    document = docx.Document(str(out["docx"]))
    orientations = [s.orientation for s in document.sections]
    assert orientations[0] == WD_ORIENT.PORTRAIT
    assert WD_ORIENT.LANDSCAPE in orientations
    last = document.sections[-1]
    assert last.orientation == WD_ORIENT.LANDSCAPE
    assert (round(last.page_width.mm), round(last.page_height.mm)) == (297, 210)
    table = document.tables[-1]
    grid = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
    usable_twips = (297 - 36) * 72 / 25.4 * 20
    assert sum(grid) == pytest.approx(usable_twips, rel=0.01)
    assert grid[0] > min(grid)  # content-fitted, not equal columns
    assert len(set(grid)) > 1
    hash_mm = grid[0] / 20 * 25.4 / 72
    assert hash_mm >= text_width_mm(HASH[:16], 6.5, mono=True)


def test_pdf_wide_section_is_landscape_without_a_near_empty_page(
    wide_pdf: tuple[Narrative, dict[str, Path], str],
) -> None:
    _, out, _ = wide_pdf
    tree = lxml.html.fromstring(out["html"].read_text("utf-8"))
    assert tree.get_element_by_id("appendix-b").get("class").split()[-1] == "landscape"
    reader = pypdf.PdfReader(out["pdf"])
    last = reader.pages[-1]
    assert (round(float(last.mediabox.width)), round(float(last.mediabox.height))) == (842, 595)
    text = last.extract_text()
    # heading, lead paragraph, caption and table on the same landscape page
    assert "Appendix B: provenance" in text and "One row per import." in text
    assert "Source snapshots" in text and HASH[:32] in text.replace("\n", "")


# --- tagged PDF/A-3b -----------------------------------------------------------------------


def _struct_elements(node: Any) -> list[Any]:
    out: list[Any] = []
    node = node.get_object() if hasattr(node, "get_object") else node
    if isinstance(node, list | pypdf.generic.ArrayObject):
        for item in node:
            out.extend(_struct_elements(item))
    elif isinstance(node, pypdf.generic.DictionaryObject) and "/S" in node:
        out.append(node)
        if "/K" in node:
            out.extend(_struct_elements(node["/K"]))
    return out


def test_pdf_is_tagged_pdfa3b_with_alt_text_and_facts_attached(
    wide_pdf: tuple[Narrative, dict[str, Path], str],
) -> None:
    narrative, out, renderer = wide_pdf
    reader = pypdf.PdfReader(out["pdf"])
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"] is True or root["/MarkInfo"]["/Marked"] == True  # noqa: E712
    elements = _struct_elements(root["/StructTreeRoot"]["/K"])
    tags = {str(e["/S"]) for e in elements}
    assert {"/H1", "/P", "/Table", "/Figure"} <= tags
    figures = [e for e in elements if e["/S"] == "/Figure"]
    captions = [b.text for s in narrative.sections for b in s.blocks if b.kind == "chart"]
    assert len(figures) == len(captions)
    alts = [str(f.get("/Alt", "")) for f in figures]
    assert all(alts), "every chart has alt text"
    assert {" ".join(a.split()) for a in alts} == {" ".join(c.split()) for c in captions}
    attachments = reader.attachments
    assert list(attachments) == ["facts.json"]
    assert attachments["facts.json"][0] == out["json"].read_bytes()
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part[^0-9]*3", xmp)
    assert re.search(r"pdfaid:conformance[^A-Z]*B", xmp)
    if renderer == "typst":  # checked by Typst while compiling; WeasyPrint cannot add it
        assert re.search(r"pdfuaid:part[^0-9]*1", xmp)


# --- LibreOffice ---------------------------------------------------------------------------


def test_libreoffice_shows_the_docx_toc_entries(
    wide_report: tuple[Narrative, dict[str, Path]], tmp_path: Path
) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    pdftotext = shutil.which("pdftotext")
    if soffice is None or pdftotext is None:
        pytest.skip(
            "LibreOffice (Debian's libreoffice-writer-nogui, scripts/ensure_sysdeps.sh) or "
            "poppler's pdftotext is not installed"
        )
    narrative, out = wide_report
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(out["docx"]),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    converted = tmp_path / (out["docx"].stem + ".pdf")
    text = subprocess.run(
        [pdftotext, "-f", "2", "-l", "2", str(converted), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Contents" in lines
    for s in narrative.sections:
        assert f"{s.number} {s.title}" in lines


def test_a_table_with_a_long_cell_may_break_across_pages() -> None:
    """A few rows with a long cell (a MAUDE import's file list) can fill a page: kept
    whole, such a table left a near-empty page behind it in the LZG demo."""
    from cerflow.narrative.sections import Table
    from cerflow.report.html import LONG_CELL_CHARS, keep_table

    short = Table("Snapshots", ["Snapshot", "File"], [["1", "faers_2024q1.zip"]] * 4)
    files = ", ".join(f"device{y}.zip, foidev{y}.zip" for y in range(2015, 2026))
    long = Table("Snapshots", ["Snapshot", "File"], [["1", files]] + [["2", "x.json"]] * 3)
    assert len(files) > LONG_CELL_CHARS
    assert keep_table(short) is True
    assert keep_table(long) is False
