"""Documents: the PDF, DOCX, HTML and facts.json of one report agree with each other and
with the `Narrative` they were rendered from."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import docx
import lxml.html
import pypdf
import pytest

from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Block, Narrative, Table
from cerflow.report.charts import CHART_IDS
from cerflow.report.pdf import pdf_identifier
from cerflow.report.render import ReportFormatError, render_report
from tests.report.conftest import (
    PDF_RENDERERS,
    SECTION_TITLES,
    build_facts,
    build_narrative,
    pdf_from_renderer,
)

HEADINGS = [f"{number} {title}" for number, title, _ in SECTION_TITLES]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Facts, Narrative, dict[str, Path]]:
    """All four files, the PDF from the default renderer (the setting's default: Typst)."""
    facts = build_facts()
    narrative = build_narrative(facts)
    out = render_report(facts, narrative, tmp_path_factory.mktemp("report"))
    return facts, narrative, out


@pytest.fixture(scope="module", params=PDF_RENDERERS)
def pdf_rendered(
    request: pytest.FixtureRequest,
    rendered: tuple[Facts, Narrative, dict[str, Path]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Facts, Narrative, dict[str, Path], str]:
    """The same report's PDF from each renderer (Typst's is the default run's file)."""
    facts, narrative, out = rendered
    out = pdf_from_renderer(facts, narrative, out, request.param, tmp_path_factory)
    return facts, narrative, out, request.param


def _narrative_tables(narrative: Narrative) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (b.table.caption, b.table.columns, b.table.rows)
        for s in narrative.sections
        for b in s.blocks
        if b.kind == "table" and b.table is not None
    ]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- files and facts.json ------------------------------------------------------------------


def test_writes_the_four_files_named_after_the_report(
    rendered: tuple[Facts, Narrative, dict[str, Path]],
) -> None:
    facts, _, out = rendered
    rid = facts.meta.report_id
    assert {k: p.name for k, p in out.items()} == {
        "pdf": f"{rid}.pdf",
        "docx": f"{rid}.docx",
        "html": f"{rid}.html",
        "json": "facts.json",
    }
    assert not list(out["pdf"].parent.glob(".*.tmp"))  # no temporary leftovers


def test_facts_json_bytes_hash_to_the_footer_hash(
    rendered: tuple[Facts, Narrative, dict[str, Path]],
) -> None:
    facts, _, out = rendered
    data = out["json"].read_bytes()
    assert data == facts.to_json().encode()
    assert hashlib.sha256(data).hexdigest() == facts.sha256()
    assert Facts.model_validate_json(data) == facts


# --- PDF -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf(pdf_rendered: tuple[Facts, Narrative, dict[str, Path], str]) -> pypdf.PdfReader:
    return pypdf.PdfReader(pdf_rendered[2]["pdf"])


@pytest.fixture(scope="module")
def pdf_pages(pdf: pypdf.PdfReader) -> list[str]:
    return [page.extract_text() for page in pdf.pages]


def _outline(pdf: pypdf.PdfReader) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []

    def walk(items: list[object]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                out.append((str(item.title), pdf.get_destination_page_number(item)))  # type: ignore[attr-defined]

    walk(pdf.outline)
    return out


def test_pdf_sections_in_order(pdf: pypdf.PdfReader, pdf_pages: list[str]) -> None:
    outline = _outline(pdf)
    assert [title for title, _ in outline] == HEADINGS
    pages = [page for _, page in outline]
    assert pages == sorted(pages)
    assert pages[0] >= 2  # after the cover and the contents
    # The body text has the headings in the same order.
    body = _squash(" ".join(pdf_pages[pages[0] :]))
    position = 0
    for heading in HEADINGS:
        found = body.find(_squash(heading), position)
        assert found >= 0, heading
        position = found


def test_pdf_contents_page_numbers_point_at_the_sections(
    pdf: pypdf.PdfReader, pdf_pages: list[str]
) -> None:
    toc_lines = [_squash(line) for line in pdf_pages[1].splitlines()]
    for heading, page_index in _outline(pdf):
        line = next(ln for ln in toc_lines if ln.startswith(_squash(heading)))
        assert line.endswith(f" {page_index + 1}"), (heading, line)


def test_pdf_cover_says_generated_sample_data(pdf_pages: list[str]) -> None:
    cover = _squash(pdf_pages[0])
    assert "GENERATED SAMPLE DATA — NOT REAL ADVERSE EVENT REPORTS" in cover
    for expected in (
        "Infusion pump (DQA)",
        "CER-DQA-20240131-0001",
        "2023-12-31",
        "2024-01-31 09:30 UTC",
    ):
        assert expected in cover


def test_pdf_footer_hash_and_page_numbers_on_every_page(
    pdf_rendered: tuple[Facts, Narrative, dict[str, Path], str], pdf_pages: list[str]
) -> None:
    facts = pdf_rendered[0]
    n = len(pdf_pages)
    assert n >= 5
    for i, text in enumerate(pdf_pages, start=1):
        flat = _squash(text)
        assert f"facts.json SHA-256: {facts.sha256()}" in flat, i
        assert f"Page {i} of {n}" in flat, i


def test_pdf_running_header_after_the_cover(pdf_pages: list[str]) -> None:
    assert all("CER-DQA-20240131-0001" in page for page in pdf_pages[1:])


def test_pdf_contains_the_charts(pdf: pypdf.PdfReader, pdf_pages: list[str]) -> None:
    text = _squash(" ".join(pdf_pages))
    for title in (
        "Monthly reports: Infusion pump (DQA)",
        "12-month forecast of monthly reports",
        "Anomalous months and change points",
        "Most frequently reported events",
        "Disproportionality by event: ROR and EBGM with intervals",
        "Seriousness and outcomes",
        "Recalls and field actions over time (3 dated)",
    ):
        assert title in text, title
    # Drawn as vectors: the chart pages carry far more path operators than text pages.
    outline = dict(_outline(pdf))
    chart_page = pdf.pages[outline["5.1 Trend"]].get_contents()
    text_page = pdf.pages[1].get_contents()
    assert chart_page is not None and text_page is not None
    assert chart_page.get_data().count(b" l\n") > 10 * max(text_page.get_data().count(b" l\n"), 10)


def test_pdf_embeds_facts_json_and_has_pdfa_metadata(
    pdf_rendered: tuple[Facts, Narrative, dict[str, Path], str], pdf: pypdf.PdfReader
) -> None:
    facts, _, out, renderer = pdf_rendered
    assert pdf.attachments["facts.json"] == [out["json"].read_bytes()]
    meta = pdf.metadata
    assert meta is not None and facts.meta.report_id in (meta.title or "")
    assert meta.author == "cerflow 0.1.0"
    assert meta.creation_date is not None
    assert meta.creation_date.isoformat() == facts.meta.generated_at.isoformat()
    if renderer == "weasyprint":  # Typst derives /ID itself: test_pdf_is_stable_per_version
        assert str(pdf.trailer["/ID"][0]).encode() == pdf_identifier(
            facts.meta.report_id, facts.meta.version
        )
    else:
        assert f"version {facts.meta.version}" in (meta.title or "")
    xmp = pdf.xmp_metadata
    assert xmp is not None
    claims = {}  # XMP allows a property as an attribute (WeasyPrint) or an element (Typst)
    for description in xmp.rdf_root.getElementsByTagName("rdf:Description"):
        for name in ("pdfaid:part", "pdfaid:conformance", "pdfuaid:part"):
            if description.getAttribute(name):
                claims[name] = description.getAttribute(name)
            for element in description.getElementsByTagName(name):
                claims[name] = element.firstChild.data
    expected = {"pdfaid:part": "3", "pdfaid:conformance": "B"}
    if renderer == "typst":  # WeasyPrint cannot combine PDF/UA-1 with PDF/A-3b (pdf.py)
        expected["pdfuaid:part"] = "1"
    assert claims == expected


def _ids(pdf: Path) -> list[str]:
    return [str(x) for x in pypdf.PdfReader(pdf).trailer["/ID"]]


@pytest.mark.parametrize("renderer", PDF_RENDERERS)
def test_pdf_is_stable_per_version(renderer: str, tmp_path: Path) -> None:
    """The same report renders to the same bytes, and the file identifier names the report
    version: kept when the text of that version is rendered again, new for the next
    version. WeasyPrint is given `pdf_identifier`; Typst derives it from the document
    title, which names the report id and version."""
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)

    def render(f: Facts, n: Narrative, name: str) -> Path:
        return render_report(f, n, tmp_path / name, formats=["pdf"], pdf_renderer=renderer)["pdf"]

    first = render(facts, narrative, "first")
    assert first.read_bytes() == render(facts, narrative, "again").read_bytes()
    edited = build_narrative(facts)
    edited.sections[0].blocks[0].text += " Edited."
    rerendered = render(facts, edited, "edited")
    assert rerendered.read_bytes() != first.read_bytes()
    assert _ids(rerendered)[0] == _ids(first)[0]
    meta = facts.meta.model_copy(update={"version": facts.meta.version + 1})
    later = render(facts.model_copy(update={"meta": meta}), narrative, "later")
    assert _ids(later)[0] != _ids(first)[0]


def test_pdf_marks_writer_input(pdf_pages: list[str]) -> None:
    text = _squash(" ".join(pdf_pages))
    assert (
        "INPUT REQUIRED FROM THE MANUFACTURER Summarise the manufacturer's clinical investigations"
        in text
    )


# --- DOCX ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document(rendered: tuple[Facts, Narrative, dict[str, Path]]) -> docx.document.Document:
    return docx.Document(str(rendered[2]["docx"]))


def test_docx_headings_use_real_heading_styles(document: docx.document.Document) -> None:
    headings = [
        (p.style.name, p.text)
        for p in document.paragraphs
        if p.style is not None and p.style.name.startswith("Heading")
    ]
    assert headings == [(f"Heading {level}", f"{n} {t}") for n, t, level in SECTION_TITLES]


def test_docx_tables_match_the_narrative(
    rendered: tuple[Facts, Narrative, dict[str, Path]], document: docx.document.Document
) -> None:
    expected = _narrative_tables(rendered[1])
    assert len(document.tables) == len(expected)
    captions = [
        p.text for p in document.paragraphs if p.style is not None and p.style.name == "Caption"
    ]
    for table, (caption, columns, rows) in zip(document.tables, expected, strict=True):
        assert [c.text for c in table.rows[0].cells] == columns
        assert [[c.text for c in r.cells] for r in table.rows[1:]] == rows
        assert caption in captions
        header_xml = table.rows[0]._tr.xml
        assert "w:tblHeader" in header_xml  # header row repeats on each page


def test_docx_cover_footer_toc_and_pictures(
    rendered: tuple[Facts, Narrative, dict[str, Path]], document: docx.document.Document
) -> None:
    facts = rendered[0]
    assert document.paragraphs[0].text == "GENERATED SAMPLE DATA — NOT REAL ADVERSE EVENT REPORTS"
    body_xml = document.element.body.xml
    assert 'TOC \\o "1-3"' in body_xml
    footer = document.sections[0].footer
    footer_xml = footer._element.xml
    assert f"facts.json SHA-256: {facts.sha256()}" in " ".join(p.text for p in footer.paragraphs)
    assert " PAGE " in footer_xml and " NUMPAGES " in footer_xml
    assert len(document.inline_shapes) == len(CHART_IDS)
    assert document.core_properties.identifier == facts.meta.report_id
    texts = [p.text for p in document.paragraphs]
    wi = texts.index("INPUT REQUIRED FROM THE MANUFACTURER")
    assert texts[wi + 1].startswith("Summarise the manufacturer's clinical investigations")
    assert "w:shd" in document.paragraphs[wi + 1]._p.xml  # shaded box


# --- HTML ----------------------------------------------------------------------------------


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.extend(v for k, v in attrs if k == "id" and v)


def test_html_parses_and_shows_the_same_sections(
    rendered: tuple[Facts, Narrative, dict[str, Path]],
) -> None:
    facts, narrative, out = rendered
    source = out["html"].read_text("utf-8")
    parser = _Collect()
    parser.feed(source)
    parser.close()
    assert len(parser.ids) == len(set(parser.ids))  # chart ids were made unique
    tree = lxml.html.fromstring(source)
    headings = [_squash(h.text_content()) for h in tree.xpath("//main//h1 | //main//h2")]
    assert headings == HEADINGS
    tables = tree.xpath("//main//table")
    expected = _narrative_tables(narrative)
    assert len(tables) == len(expected)
    for table, (caption, columns, rows) in zip(tables, expected, strict=True):
        assert _squash(table.xpath("caption")[0].text_content()) == caption
        assert [_squash(th.text_content()) for th in table.xpath("thead//th")] == columns
        assert [
            [_squash(td.text_content()) for td in tr.xpath("td")] for tr in table.xpath("tbody/tr")
        ] == rows
    assert len(tree.xpath("//figure[@class='chart']/*[local-name()='svg']")) == len(CHART_IDS)
    toc = [a.get("href") for a in tree.xpath("//nav[@id='contents']//a")]
    assert toc == [f"#{s.id}" for s in narrative.sections]
    assert facts.sha256() in tree.xpath("//footer")[0].text_content()
    assert "GENERATED SAMPLE DATA" in tree.xpath("//section[@id='cover']")[0].text_content()
    assert (
        tree.xpath("//div[@class='writer-input']/p[@class='wi-label']")[0].text
        == "Input required from the manufacturer"
    )


def test_html_escapes_text_from_data(tmp_path: Path) -> None:
    facts = build_facts()
    narrative = build_narrative(facts)
    narrative.sections[0].blocks[0].text = "<script>alert(1)</script> & more"
    out = render_report(facts, narrative, tmp_path, formats=["html"])
    source = out["html"].read_text("utf-8")
    assert "<script>" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in source


# --- missing data and bad input -------------------------------------------------------------


def test_missing_charts_become_a_no_data_note(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    out = render_report(facts, narrative, tmp_path, formats=["html", "docx"])
    tree = lxml.html.fromstring(out["html"].read_text("utf-8"))
    notes = [_squash(p.text_content()) for p in tree.xpath("//p[@class='no-data']")]
    assert notes == [
        "No chart: there are no data for this analysis (Recalls by report date and class).",
        "No chart: there are no data for this analysis (Monthly reports with Sen trend line).",
        "No chart: there are no data for this analysis (Twelve-month forecast with intervals).",
        "No chart: there are no data for this analysis (Flagged months and change points).",
        "No chart: there are no data for this analysis (ROR and EBGM with intervals).",
        "No chart: there are no data for this analysis (PRISMA 2020 flow diagram).",
    ]
    assert "GENERATED SAMPLE DATA" in tree.xpath("//section[@id='cover']")[0].text_content()
    document = docx.Document(str(out["docx"]))
    assert len(document.inline_shapes) == 2  # outcomes and top events
    assert sum(p.text.startswith("No chart: there are no data") for p in document.paragraphs) == 6


def test_real_data_has_no_generated_banner(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    facts.meta.generated_data = False
    out = render_report(facts, build_narrative(facts), tmp_path, formats=["html", "docx"])
    assert "GENERATED SAMPLE DATA" not in out["html"].read_text("utf-8")
    assert "GENERATED SAMPLE DATA" not in docx.Document(str(out["docx"])).paragraphs[0].text


def test_supplied_charts_are_used_as_given(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    svg = (
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        '<rect id="r" width="5" height="5"/></svg>'
    )
    out = render_report(
        facts, build_narrative(facts), tmp_path, formats=["html"], charts={"outcomes": svg}
    )
    source = out["html"].read_text("utf-8")
    assert '<rect id="c-outcomes-r" width="5" height="5"/>' in source
    assert source.count("<svg") == 1


def test_unknown_format_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    with pytest.raises(
        ReportFormatError,
        match=r"unknown report format\(s\) xls; choose from pdf, docx, html, json",
    ):
        render_report(facts, build_narrative(facts), tmp_path / "out", formats=["pdf", "xls"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("renderer", PDF_RENDERERS)
def test_wide_tables_get_a_landscape_page_and_tokens_may_break(
    renderer: str, tmp_path: Path
) -> None:
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    columns = [f"Column {i}" for i in range(10)]
    narrative.sections[-1].blocks.append(
        Block(
            kind="table",
            table=Table(caption="Wide", columns=columns, rows=[["a" * 64] + ["x y"] * 9]),
        )
    )
    out = render_report(facts, narrative, tmp_path, formats=["html", "pdf"], pdf_renderer=renderer)
    tree = lxml.html.fromstring(out["html"].read_text("utf-8"))
    classes = [t.get("class") for t in tree.xpath("//main//table")]
    assert classes == ["data keep", "data keep", "data keep wide"]
    assert tree.xpath("(//main//table)[3]//td")[0].get("class") == "token"
    pdf = pypdf.PdfReader(out["pdf"])
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in pdf.pages]
    assert sizes[-1] == (842, 595)  # A4 landscape for the wide table
    assert sizes[0] == (595, 842)
