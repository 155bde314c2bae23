"""SDRs in the facts and the text: real FAERS extracts (methotrexate, 4 reports, gets
descriptive results only), the narrative with SDRs traced to facts, the signal status
against a previous report, and no c = 0 pair in the forest plot."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from cerflow.analysis.disproportionality import disproportionality_from_counts, for_product
from cerflow.analysis.sdr import SdrCriteria
from cerflow.config import Settings
from cerflow.ingest.faers import ingest_zip
from cerflow.narrative.facts import (
    BackgroundFacts,
    Facts,
    SignalsFacts,
    ThresholdFacts,
    allowed_numbers,
    numbers_in_text,
)
from cerflow.narrative.render import write_narrative
from cerflow.report.charts import _forest_rows
from cerflow.report.compute import signals_facts_from_rows
from cerflow.report.facts_builder import build_facts
from cerflow.report.signal_status import (
    PreviousReportError,
    apply_previous,
    parse_previous,
    read_previous,
)
from tests.report import store_factory as sf

LOOSE = Settings(
    background_min_reports=0,
    signal_min_product_reports=0,
    background_max_product_share=1.0,
    signal_eb05_min=0.5,
)


def _text(facts: Facts) -> str:
    return "\n".join(write_narrative(facts).all_texts())


def _untraceable(facts: Facts) -> list[str]:
    allowed = allowed_numbers(facts)
    return [
        n
        for t in write_narrative(facts).all_texts()
        for n in numbers_in_text(t)
        if n not in allowed
    ]


def test_methotrexate_real_faers_is_descriptive_only(db_engine: Engine, shared_data: Path) -> None:
    for name in ("aers_ascii_2004q1.zip", "faers_ascii_2017q2.zip"):
        ingest_zip(db_engine, shared_data / "faers_ascii" / name)
    # Background rules relaxed: the product-size rule alone must stop it.
    relaxed = Settings(background_min_reports=0, background_max_product_share=1.0)
    f = build_facts(db_engine, drug="methotrexate", settings=relaxed)
    s = f.signals
    assert s is not None and s.sdr is not None and s.background is not None
    assert s.product_reports == 4 and s.background_reports == 200
    assert s.sdr.descriptive_only and not s.background.refused
    assert s.signals == [] and s.top_by_ebgm == [] and s.sdr.fdr_list == []
    assert "4 reports in the background, fewer than the 50 required" in (
        s.sdr.descriptive_reason or ""
    )
    text = _text(f)
    assert "Only descriptive results are given" in text
    assert "ranked by" not in text
    assert _untraceable(f) == []
    # With the default settings the 200-report background is refused as well.
    default = build_facts(db_engine, drug="methotrexate", settings=Settings())
    assert default.signals is not None and default.signals.background is not None
    assert default.signals.background.refused and default.signals.signals == []
    assert "fewer than the 1,000 required" in _text(default)
    assert _untraceable(default) == []


@pytest.fixture
def loose_facts(sqlite_engine: Engine) -> Facts:
    sf.fill(sqlite_engine)
    return build_facts(sqlite_engine, drug="atorvastatin", settings=LOOSE)


def test_sdr_text_is_traceable_and_names_background(loose_facts: Facts) -> None:
    s = loose_facts.signals
    assert s is not None and s.sdr is not None
    assert s.sdr.primary_criterion == "EB05"
    text = _text(loose_facts)
    assert "signal of disproportionate reporting" in text.lower()
    assert "the local store (N = " in text
    assert "Benjamini-Hochberg" in text
    assert "Signal table after ICH E2C(R2)" in text
    assert _untraceable(loose_facts) == []
    for x in s.signals:
        assert x.c > 0 and x.a >= s.sdr.min_cases and not x.zero_background
        assert x.status == "new" and x.first_detected == loose_facts.meta.data_cutoff
    zero = {x.event for x in s.sdr.zero_background}
    assert zero, "the hand store has terms only atorvastatin reports"
    assert not zero & {x.event for x in s.signals}
    assert not zero & {x.event for x in s.top_by_ebgm}
    assert not zero & {r.event for r in _forest_rows(loose_facts)}


def test_forest_never_plots_a_zero_cell_pair(loose_facts: Facts) -> None:
    f = loose_facts.model_copy(deep=True)
    assert f.signals is not None and f.signals.sdr is not None
    # Even if a c = 0 pair slipped into the lists, the chart leaves it out.
    f.signals.signals = f.signals.signals + f.signals.sdr.zero_background
    assert all(r.c > 0 for r in _forest_rows(f))


def test_previous_report_gives_status(loose_facts: Facts, tmp_path: Path) -> None:
    s = loose_facts.signals
    assert s is not None and s.signals, "the relaxed hand store must give at least one SDR"
    keep = s.signals[0]
    prev = json.loads(loose_facts.to_json())
    prev["meta"]["report_id"] = "CER-OLD-1"
    prev["meta"]["data_cutoff"] = "2023-12-31"
    old_row = dict(prev["signals"]["signals"][0])
    old_row["event"] = "Old signal"
    prev["signals"]["signals"] = [prev["signals"]["signals"][0], old_row]
    prev["signals"]["signals"][0]["first_detected"] = "2023-06-30"
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(prev), encoding="utf-8")
    out = apply_previous(loose_facts, read_previous(path))
    o = out.signals
    assert o is not None and o.sdr is not None
    status = {x.event: (x.status, str(x.first_detected)) for x in o.signals}
    assert status[keep.event] == ("ongoing", "2023-06-30")
    assert [(x.event, x.status) for x in o.sdr.closed] == [("Old signal", "closed")]
    assert o.sdr.previous_report == "CER-OLD-1" and o.sdr.n_closed == 1
    assert o.sdr.n_ongoing == 1 and o.sdr.n_new == len(o.signals) - 1
    text = _text(out)
    assert "computed against the previous report CER-OLD-1" in text
    assert "Old signal" in text
    assert _untraceable(out) == []


def test_previous_report_errors(loose_facts: Facts, tmp_path: Path) -> None:
    with pytest.raises(PreviousReportError, match="cannot be read"):
        read_previous(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PreviousReportError, match="not valid JSON"):
        read_previous(bad)
    with pytest.raises(PreviousReportError, match=r"not a cerflow facts\.json"):
        parse_previous({"x": 1})
    other = json.loads(loose_facts.to_json())
    other["product"]["display_name"] = "Metformin"
    with pytest.raises(PreviousReportError, match="not of 'Atorvastatin'"):
        apply_previous(loose_facts, parse_previous(other))


def _openfda_like(n_reports: int, n_product: int) -> tuple[pl.DataFrame, BackgroundFacts]:
    """A whole-database 2x2 source (as openFDA counts give): no prior, so IC025 ranks."""
    table = pl.DataFrame(
        {
            "product": ["P", "P", "P"],
            "event": ["Rash", "Lonely", "Drug ineffective"],
            "a": [40, 5, 9],
        }
    )
    res = disproportionality_from_counts(
        table,
        product_totals=pl.DataFrame({"product": ["P"], "n": [n_product]}),
        event_totals=pl.DataFrame(
            {"event": ["Rash", "Lonely", "Drug ineffective"], "n": [400, 5, 5000]}
        ),
        n_reports=n_reports,
        methods=["prr", "ror", "ic"],
    )
    bg = BackgroundFacts(
        source="openfda",
        description=f"openFDA whole-database counts ({n_reports:,} reports)",
        reports=n_reports,
        product_reports=n_product,
        ebgm_available=False,
        ebgm_absent_reason="EBGM needs the all-pairs prior",
    )
    return for_product(res, "P"), bg


def _hook(rows: pl.DataFrame, bg: BackgroundFacts) -> SignalsFacts:
    return signals_facts_from_rows(
        rows,
        background=bg,
        criteria=SdrCriteria(),
        thresholds=ThresholdFacts(
            prr_min=2, chi2_min=4, min_count=3, ror025_min=1, ic025_min=0, eb05_min=2
        ),
        display={},
        notes=[],
        label="P",
        source="openFDA whole database",
    )


def test_hook_for_another_background_ranks_by_ic025() -> None:
    rows, bg = _openfda_like(1_000_000, 2_000)
    s = _hook(rows, bg)
    assert s.background is not None and not s.background.refused
    assert s.sdr is not None and s.sdr.primary_criterion == "IC025"
    assert [x.event for x in s.signals] == ["Rash"]  # E = 0.8, a = 40
    assert [x.event for x in s.sdr.zero_background] == ["Lonely"]  # c = 5 - 5 = 0
    assert [x.event for x in s.sdr.lack_of_efficacy] == ["Drug ineffective"]
    assert s.signals[0].source == "openFDA whole database"


def test_hook_refuses_a_dominated_background() -> None:
    rows, bg = _openfda_like(8_000, 2_000)  # the product is 25% of the background
    s = _hook(rows, bg)
    assert s.background is not None and s.background.refused
    assert "25.0%" in (s.background.refused_reason or "")
    assert s.signals == [] and s.top_by_ebgm == []
