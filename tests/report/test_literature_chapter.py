"""The CER's literature chapter (issue 14): facts from the store, traceable text, the
PRISMA chart, the chapter in HTML and DOCX, and Vancouver references."""

from __future__ import annotations

import zipfile
from pathlib import Path

from sqlalchemy import Engine

from cerflow.narrative.facts import Facts, untraceable_numbers
from cerflow.narrative.render import write_narrative
from cerflow.report.charts import draw_charts
from cerflow.report.facts_builder import build_facts
from cerflow.report.literature import apply_literature, read_literature, vancouver
from cerflow.sample.literature import load_demo_literature
from tests.report import store_factory as sf
from tests.report.conftest import build_facts as synthetic_facts


def _facts(engine: Engine) -> Facts:
    """The device's facts through the real builder (the literature hook included), then
    one SDR renamed to the planted literature event to check the term match."""
    sf.fill(engine)
    load_demo_literature(engine, product_code="LZG")
    facts = build_facts(engine, device_codes=["LZG"])
    assert facts.literature is not None and facts.literature.prisma is not None
    assert facts.signals is not None
    sigs = facts.signals.model_copy(deep=True)
    other = synthetic_facts().signals
    assert other is not None
    # an SDR in the store's other spelling: the store term rule (casefold, spaces) matches it
    sigs.signals.append(
        other.signals[0].model_copy(update={"event": "insufficient flow or  under infusion"})
    )
    facts = facts.model_copy(update={"signals": sigs})
    return apply_literature(facts, read_literature(engine, [("device", "LZG")]))


def test_facts_counts_match_the_demo_log(sqlite_engine: Engine) -> None:
    lit = _facts(sqlite_engine).literature
    assert lit is not None and lit.prisma is not None and lit.search is not None
    x = lit.prisma
    # 18 records: 7 PubMed, 7 Europe PMC (3 planted duplicates), 4 ClinicalTrials.gov
    assert [(d.database, d.identified) for d in lit.search.databases] == [
        ("pubmed", 7),
        ("europepmc", 7),
        ("ctgov", 4),
    ]
    assert (x.identified, x.duplicates_removed, x.unique, x.screened) == (18, 3, 15, 15)
    assert (x.excluded_title_abstract, x.full_text_assessed, x.excluded_full_text) == (6, 9, 3)
    assert x.included == 6 and x.awaiting_screening == x.awaiting_full_text == 0
    assert {r.code: r.count for r in x.excluded_title_abstract_reasons} == {
        "E1": 2,
        "E2": 2,
        "E3": 1,
        "E4": 1,
    }
    assert {r.code: r.count for r in x.excluded_full_text_reasons} == {"E1": 1, "E2": 2}
    assert lit.search.duplicates_by_rule == {"pmid": 1, "pmcid": 0, "doi": 1, "title_year": 1}
    assert lit.search.synthetic and lit.not_appraised == 0 and len(lit.appraisals) == 6
    # the first included record: D1 A1 P1 R1 T2 O1 F1 S1 C1 -> 14 of 16 -> 88, high
    first = lit.appraisals[0]
    assert (first.ref, first.weight, first.weight_class) == (1, 88, "high")
    under = [f for f in lit.findings if f.event == "Insufficient Flow or Under Infusion"]
    assert [(f.ref, f.events, f.patients, f.percent, f.sdr) for f in under] == [
        (1, 18, 412, 4.4, True),
        (4, 11, 2890, 0.4, True),
    ]
    assert lit.sdr_in_literature == ["insufficient flow or  under infusion"]
    assert (lit.trials_registered, lit.trials_completed, lit.trials_with_results) == (4, 2, 1)
    posted = next(t for t in lit.trials if t.adverse_events)
    assert posted.nct_id == "NCT99000001" and posted.status == "completed"
    assert [(e.term, e.group, e.affected, e.at_risk) for e in posted.adverse_events][:2] == [
        ("Insufficient Flow or Under Infusion", "Study pump", 3, 120),
        ("Insufficient Flow or Under Infusion", "Standard pump", 2, 120),
    ]
    # 6 included records + 3 trials that are not included = 9 references
    assert len(lit.references) == 9 and lit.references[0].startswith("[1] Moreau L, Jansen P")


def test_chapter_text_traces_to_facts_and_chart(sqlite_engine: Engine) -> None:
    facts = _facts(sqlite_engine)
    narrative = write_narrative(facts)
    ids = [s.id for s in narrative.sections]
    for sid in ("literature", "literature-protocol", "literature-search", "literature-appraisal",
                "literature-findings", "literature-trials", "literature-references"):  # fmt: skip
        assert sid in ids
    lit_text = [t for s in narrative.sections if s.id.startswith("literature") for t in s.texts()]
    assert untraceable_numbers("\n".join(lit_text), facts) == []
    assert untraceable_numbers("\n".join(narrative.all_texts()), facts) == []
    joined = "\n".join(lit_text)
    assert "It identified 18 records; 3 duplicates were removed" in joined
    assert "also found in the literature: insufficient flow or under infusion" in joined
    assert "SYNTHETIC demonstration data" in joined
    figs = draw_charts(facts)
    assert "prisma_flow" in figs
    texts = [t.get_text() for t in figs["prisma_flow"].axes[0].texts]
    assert "Records identified (n = 18):\n  pubmed: 7\n  europepmc: 7\n  ctgov: 4" in texts
    assert "Studies included in review (n = 6)" in texts
    assert any(t.startswith("Records excluded (n = 6)") for t in texts)


def test_no_protocol_says_what_is_missing(sqlite_engine: Engine) -> None:
    sf.fill(sqlite_engine)
    facts = build_facts(sqlite_engine, device_codes=["LZG"])
    sec = next(s for s in write_narrative(facts).sections if s.id == "literature")
    writer = [b.text for b in sec.blocks if b.kind == "writer_input"]
    assert writer and "a literature search protocol (cerflow literature protocol set)" in writer[0]
    assert "prisma_flow" not in draw_charts(facts)


def test_chapter_in_html_and_docx(sqlite_engine: Engine, tmp_path: Path) -> None:
    from cerflow.report.render import render_report

    facts = _facts(sqlite_engine)
    files = render_report(facts, write_narrative(facts), tmp_path, ["html", "docx"])
    html = files["html"].read_text(encoding="utf-8")
    assert 'id="literature"' in html and "Clinical data from the literature" in html
    assert "PRISMA flow diagram of search" in html and "Records identified (n = 18)" in html
    with zipfile.ZipFile(files["docx"]) as z:
        doc = z.read("word/document.xml").decode()
        assert "Clinical data from the literature" in doc
        assert "Safety findings extracted from the included records" in doc
        assert any(n.startswith("word/media/") for n in z.namelist())


def test_vancouver_by_hand() -> None:
    assert vancouver(
        authors=["Moreau L", "Jansen P", "Ortega R"],
        title="Under-infusion events with volumetric pumps",
        journal="J Infus Ther",
        year=2021,
        volume="12",
        issue="3",
        pages="145-53",
        doi="10.99999/x.1",
        pmid="90000001",
    ) == (
        "Moreau L, Jansen P, Ortega R. Under-infusion events with volumetric pumps. "
        "J Infus Ther. 2021;12(3):145-53. doi:10.99999/x.1. PMID: 90000001."
    )
    seven = ["Keller A", "Nakamura T", "Silva M", "Berg H", "Okafor C", "Dubois F", "Rossi G"]
    assert vancouver(authors=seven, title="Is it safe?", journal="BMJ", year=2022) == (
        "Keller A, Nakamura T, Silva M, Berg H, Okafor C, Dubois F, et al. Is it safe? BMJ. 2022."
    )
    assert vancouver(
        authors=["Acme Devices"],
        title="Pump Safety Study",
        journal=None,
        year=2020,
        nct_id="NCT99000001",
    ) == (
        "Acme Devices. Pump Safety Study. ClinicalTrials.gov; 2020. "
        "ClinicalTrials.gov identifier: NCT99000001. "
        "Available from: https://clinicaltrials.gov/study/NCT99000001"
    )
