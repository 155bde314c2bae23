"""The Typst PDF path (report/pdf_typst.py + templates/cer.typ): what it decides on its own.

The content shared with WeasyPrint's PDF (sections, tables, cover, footer, PDF/A, tags,
facts.json) is tested over both renderers in test_render.py and test_clean_documents.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest

from cerflow.config import Settings
from cerflow.narrative.sections import Block, Section, Table
from cerflow.report.pdf_typst import _FINE, _ZWSP, _token, document_title, typst_document
from cerflow.report.render import ReportFormatError, render_report
from tests.report.conftest import build_facts, build_narrative

HASH = "0123456789abcdef" * 4


def _text(pdf: Path) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages))


def test_token_breaks_every_32_characters_and_marks_every_16() -> None:
    assert _token(HASH) == (
        HASH[:16] + _FINE + HASH[16:32] + _ZWSP + HASH[32:48] + _FINE + HASH[48:]
    )
    # after / _ . - ? & = as the HTML's token_breaks
    assert _token("openfda:/device/enforcement.json") == _ZWSP.join(
        ["openfda:/", "device/", "enforcement.", "json"]
    )


def test_text_from_data_is_never_typst_markup(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    hostile = '#panic("boom") *not bold* $x^2$ <label> @ref `raw` // no comment \\ #{1+1}'
    narrative.sections[0].blocks[0].text = hostile
    narrative.sections[0].blocks.append(
        Block(kind="table", table=Table(caption="#emph[c]", columns=["= x"], rows=[["- y"]]))
    )
    pdf = render_report(facts, narrative, tmp_path, formats=["pdf"], pdf_renderer="typst")["pdf"]
    text = _text(pdf)
    assert hostile in text
    assert "#emph[c]" in text and "= x" in text and "- y" in text


def test_document_title_names_report_id_and_version() -> None:
    facts = build_facts(rich=False)
    title = document_title(facts)
    assert title.endswith(f"({facts.meta.report_id}, version {facts.meta.version})")
    doc = typst_document(facts, build_narrative(facts), {})
    assert doc["title"] == title
    assert doc["date"] == [2024, 1, 31, 9, 30, 0]
    assert [row[0] for row in doc["cover"]][-1] == "facts.json SHA-256"
    assert doc["cover"][-1][1] == facts.sha256()


def test_missing_chart_is_a_no_data_note(tmp_path: Path) -> None:
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    doc = typst_document(facts, narrative, {})
    notes = [
        b["text"]
        for g in doc["groups"]
        for s in g["sections"]
        for b in s["blocks"]
        if b["kind"] == "no_chart"
    ]
    expected = [
        f"No chart: there are no data for this analysis ({b.text.strip('.')})."
        for s in narrative.sections
        for b in s.blocks
        if b.kind == "chart"
    ]
    assert notes == expected and notes


def test_renderer_comes_from_the_setting_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().pdf_renderer == "typst"
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    with pytest.raises(ReportFormatError, match="unknown PDF renderer 'prince'"):
        render_report(facts, narrative, tmp_path / "x", formats=["pdf"], pdf_renderer="prince")
    assert not (tmp_path / "x").exists()
    monkeypatch.setenv("CERFLOW_PDF_RENDERER", "weasyprint")
    from cerflow.config import get_settings

    get_settings.cache_clear()
    try:
        pdf = render_report(facts, narrative, tmp_path / "w", formats=["pdf"])["pdf"]
    finally:
        get_settings.cache_clear()
    assert "WeasyPrint" in str(pypdf.PdfReader(pdf).metadata.get("/Producer", ""))
    pdf = render_report(facts, narrative, tmp_path / "t", formats=["pdf"], pdf_renderer="typst")
    assert "Typst" in str(pypdf.PdfReader(pdf["pdf"]).metadata.get("/Creator", ""))


def test_odd_narratives_still_render(tmp_path: Path) -> None:
    """Ragged and empty tables, a skipped heading level, control characters: the PDF is
    written (Typst refuses an H1 followed by an H3 under PDF/UA-1, a table that is not
    filled row by row would shift its cells, and PDF/A cannot show a control character)."""
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    narrative.sections[0].blocks[0].text = "before\x00after\x07 end"
    narrative.sections.append(
        Section(
            id="deep",
            number="X.1.1",
            title="Deep",
            level=3,  # right after a level-1 chapter's end: no level 2 above it
            blocks=[
                Block(
                    kind="table",
                    table=Table(
                        caption="Ragged",
                        columns=["a", "b", "c"],
                        rows=[["1"], ["4", "5", "6", "7"]],
                    ),
                ),
                Block(
                    kind="table", table=Table(caption="Nothing to tabulate", columns=[], rows=[])
                ),
            ],
        )
    )
    narrative.sections.insert(
        len(narrative.sections) - 1, Section(id="top", number="X", title="Top", level=1)
    )
    doc = typst_document(facts, narrative, {})
    deep = doc["groups"][-1]["sections"][-1]
    assert deep["level"] == 2  # one below its chapter, never skipping
    ragged, empty = deep["blocks"]
    assert ragged["columns"] == ["a", "b", "c", ""]
    assert ragged["rows"] == [["1", "", "", ""], ["4", "5", "6", "7"]]
    assert empty == {"kind": "paragraph", "text": "Nothing to tabulate"}
    pdf = render_report(facts, narrative, tmp_path, formats=["pdf"], pdf_renderer="typst")["pdf"]
    reader = pypdf.PdfReader(pdf)
    assert "Typst" in str(reader.metadata.get("/Creator", ""))
    text = _text(pdf)
    assert "beforeafter end" in text
    assert "Ragged" in text and "Nothing to tabulate" in text


def test_a_character_no_font_has_falls_back_to_weasyprint(tmp_path: Path) -> None:
    """No CJK font is installed here (nor in the image): Typst refuses such text under
    PDF/A, so that report's PDF comes from WeasyPrint, still PDF/A-3b with facts.json."""
    import shutil
    import subprocess

    fc_list = shutil.which("fc-list")
    if fc_list is not None:
        found = subprocess.run(
            [fc_list, ":charset=963f"], capture_output=True, text=True, check=False
        )
        if found.stdout.strip():
            pytest.skip("a font with CJK glyphs is installed: Typst would not refuse")
    facts = build_facts(rich=False)
    narrative = build_narrative(facts)
    narrative.sections[0].blocks[0].text = "阿托伐他汀"
    out = render_report(facts, narrative, tmp_path, formats=["pdf", "json"], pdf_renderer="typst")
    reader = pypdf.PdfReader(out["pdf"])
    assert "WeasyPrint" in str(reader.metadata.get("/Producer", ""))
    assert reader.attachments["facts.json"] == [out["json"].read_bytes()]
    assert not list(tmp_path.glob(".*.tmp"))
