"""A report rendered with CER inputs: no input boxes for the filled parts, the CER title
and status on the cover, and the sign-off chapter, alike in PDF, HTML and DOCX."""

from __future__ import annotations

from pathlib import Path

import docx
import lxml.html
import pypdf
import pytest

from cerflow.cer_inputs.schemas import load_inputs
from cerflow.config import Settings
from cerflow.narrative.facts import Facts
from cerflow.narrative.render import write_narrative
from cerflow.report.cer_facts import apply_cer_inputs
from cerflow.report.compute import WRITER_INPUTS
from cerflow.report.render import render_report
from tests.report.conftest import build_facts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cer-inputs-example-LZG.yaml"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def _facts() -> Facts:
    return build_facts().model_copy(update={"writer_inputs": list(WRITER_INPUTS)})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    facts = apply_cer_inputs(_facts(), load_inputs(EXAMPLE), settings=SETTINGS)
    return render_report(facts, write_narrative(facts), tmp_path_factory.mktemp("cer"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    facts = apply_cer_inputs(_facts(), None, settings=SETTINGS)
    return render_report(facts, write_narrative(facts), tmp_path_factory.mktemp("plain"), ["html"])


def test_html_with_inputs(files: dict[str, Path]) -> None:
    tree = lxml.html.fromstring(files["html"].read_bytes())
    assert tree.xpath("string(//p[@class='doc-type'])") == "Clinical Evaluation Report"
    assert tree.xpath("string(//p[@class='cover-title'])") == "Clinical Evaluation Report"
    supplied = {d.get("data-input") for d in tree.xpath("//div[@class='supplied']")}
    assert {"intended_purpose", "state_of_the_art", "benefit_risk", "conclusions"} <= supplied
    # Only boxes the schema has no field for remain (marketing authorisations, EU FSCA list
    # wording is inside complaint_summary's box, so none of the filled ones):
    boxes = [" ".join(d.itertext()) for d in tree.xpath("//div[@class='writer-input']")]
    for text in boxes:
        assert "Intended purpose" not in text and "benefit-risk" not in text, text
    cover = " ".join(tree.xpath("//table[@class='cover-meta']")[0].itertext())
    assert "every input a CER needs is supplied" in cover
    assert "Dr. A. Example, B. Sample, MSc" in cover
    signoff = tree.xpath("//section[@id='sign-off-evaluators']")[0]
    assert "declarations of interest" in " ".join(signoff.itertext())


def test_html_without_inputs_keeps_the_boxes_and_says_why(plain: dict[str, Path]) -> None:
    tree = lxml.html.fromstring(plain["html"].read_bytes())
    assert tree.xpath("string(//p[@class='doc-type'])") == "Post-market safety data"
    assert tree.xpath("string(//p[@class='cover-title'])").startswith(
        "Post-market safety data for the clinical evaluation of "
    )
    assert not tree.xpath("//div[@class='supplied']")
    assert len(tree.xpath("//div[@class='writer-input']")) >= 12
    cover = " ".join(tree.xpath("//table[@class='cover-meta']")[0].itertext())
    assert "Not yet a Clinical Evaluation Report; missing inputs: device/product description" in (
        " ".join(cover.split())
    )


@pytest.fixture(scope="module", params=["typst", "weasyprint"])
def pdf(
    request: pytest.FixtureRequest,
    files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The report's PDF from each renderer (the default run's file is Typst's)."""
    if request.param == "typst":
        return files["pdf"]
    facts = Facts.model_validate_json(files["json"].read_bytes())
    out = tmp_path_factory.mktemp(request.param)
    return render_report(
        facts, write_narrative(facts), out, formats=["pdf"], pdf_renderer=request.param
    )["pdf"]


def test_pdf_with_inputs(pdf: Path, files: dict[str, Path]) -> None:
    facts = Facts.model_validate_json(files["json"].read_bytes())
    assert facts.cer is not None
    pages = [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(pdf).pages]
    text = " ".join(pages)
    assert "Supplied in the CER inputs: Intended purpose" in text
    assert "Input required from the manufacturer Intended purpose" not in text
    cover = pages[0]
    assert "Clinical Evaluation Report: every input a CER needs is supplied" in cover
    assert "Evaluators Dr. A. Example, B. Sample, MSc" in cover
    assert f"Next update due {facts.cer.next_update.date.isoformat()}" in cover
    assert f"Version {facts.meta.version}" in cover
    assert any("9.2 Review and approval" in p for p in pages[2:])  # after contents
    # the approval table (it may start on the page after its heading and intro sentence)
    signoff = next(p for p in pages[2:] if "Approval of this version" in p)
    assert "C. Demo" in signoff and "____" in signoff


def test_docx_with_inputs(files: dict[str, Path]) -> None:
    document = docx.Document(str(files["docx"]))
    paras = [p.text for p in document.paragraphs]
    assert "CLINICAL EVALUATION REPORT" in paras
    assert "Supplied in the CER inputs: Benefit-risk determination" in paras
    assert not any(p.startswith("Intended purpose, indications, contraindications") for p in paras)
    assert any(p.startswith("Status: Clinical Evaluation Report") for p in paras)
    cells = {c.text for t in document.tables for row in t.rows for c in row.cells}
    assert {"Dr. A. Example", "C. Demo", "Declaration of interest"} <= cells
