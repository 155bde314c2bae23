"""`build_facts` against a small store filled through the loader, checked by hand counts."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from sqlalchemy import Engine

from cerflow.config import Settings
from cerflow.etl.load_reports import load_reports
from cerflow.narrative.facts import Facts
from cerflow.report.facts_builder import ProductNotFoundError, build_facts
from cerflow.sources.base import Provenance
from tests.report import store_factory as sf


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    sf.fill(db_engine)
    return db_engine


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, list):
        return [x for v in value for x in _floats(v)]
    return []


def test_drug_volumes_match_hand_counts(store: Engine) -> None:
    f = build_facts(store, drug="Atorvastatin calcium 20 mg", settings=Settings())
    v = f.volumes
    assert f.product.kind == "drug" and f.product.product_keys == ["ATORVASTATIN"]
    # c1 names atorvastatin only as concomitant: not a report of the product.
    assert v.total_reports == 5
    assert (v.serious, v.serious_percent, v.deaths, v.death_percent) == (2, 40.0, 1, 20.0)
    assert (v.hospitalizations, v.life_threatening) == (1, 0)
    assert (v.year_only_dates, v.undated) == (1, 0)
    assert {s.label: s.count for s in v.by_sex} == {"female": 3, "male": 1, "unknown": 1}
    # ages 30, 50, 60, 70 (a4 has none): numpy's linear quartiles by hand: 45, 55, 62.5
    assert (v.age_q1, v.age_median, v.age_q3, v.age_missing) == (45.0, 55.0, 62.5, 1)
    assert [(e.label, e.count, e.percent) for e in f.top_events] == [
        ("Myalgia", 3, 60.0),
        ("Nausea", 2, 40.0),
        ("Headache", 1, 20.0),
        ("Rash", 1, 20.0),
    ]


def test_monthly_series_runs_to_the_data_cutoff(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin")
    assert f.meta.data_cutoff == dt.date(2024, 4, 11)  # latest drug report (c1)
    assert f.trend is not None
    # a5 is year-only: not in any month; April has no atorvastatin report.
    assert f.trend.months == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert f.trend.counts == [2, 1, 1, 0]
    assert f.forecast is not None and len(f.forecast.months) == 12
    assert f.forecast.months[0] == "2024-05"


# The hand-countable store is tiny and atorvastatin-heavy: the default background rules
# refuse it (tested below); these tests of the statistics relax them.
LOOSE = {
    "background_min_reports": 0,
    "signal_min_product_reports": 0,
    "background_max_product_share": 1.0,
}


def test_disproportionality_2x2_by_hand(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin", settings=Settings(**LOOSE))
    s = f.signals
    assert s is not None
    assert s.background_reports == 16  # l1 has no event: outside the 2x2 tables
    assert s.product_reports == 5
    myalgia = next(x for x in s.top_by_ebgm if x.event == "Myalgia")
    a, b, c, d = sf.MYALGIA_2X2
    assert (myalgia.a, myalgia.b, myalgia.c, myalgia.d) == (a, b, c, d)
    assert myalgia.prr == round((a / (a + b)) / (c / (c + d)), 2)
    assert myalgia.ror == round(a * d / (b * c), 2)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert myalgia.ror_lo == round(math.exp(math.log(a * d / (b * c)) - 1.959964 * se), 2)
    assert myalgia.expected == round((a + b) * (a + c) / 16, 2)
    assert myalgia.flags == []  # PRR 3.3 but only 3 reports and chi2 small: no Evans flag
    assert s.thresholds.prr_min == 2.0


def test_thresholds_come_from_settings(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin", settings=Settings(signal_ror025_min=0.5, **LOOSE))
    assert f.signals is not None and f.signals.thresholds.ror025_min == 0.5
    flagged = {x.event: x.flags for x in f.signals.top_by_ebgm}
    assert "ror" in flagged["Myalgia"]  # ROR025 0.64 > 0.5


def test_small_product_dominated_store_is_refused(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin", settings=Settings())
    s = f.signals
    assert s is not None and s.background is not None and s.sdr is not None
    assert s.background.refused
    assert s.background.reports == 16 and s.background.product_reports == 5
    reason = s.background.refused_reason or ""
    assert "16 reports, fewer than the 1,000" in reason
    assert "31.2%" in reason and "20.0%" in reason  # 5 / 16 of the background
    assert s.signals == [] and s.top_by_ebgm == [] and s.sdr.fdr_list == []
    assert any("not computed against this background" in n for n in f.notes["signals"])


def test_recalls_and_provenance(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin")
    assert [r.recall_number for r in f.recalls.items] == ["D-0001-2024"]
    assert (f.recalls.total, f.recalls.class_i, f.recalls.class_ii) == (1, 0, 1)
    by_sha = {p.sha256[0]: p for p in f.provenance}
    assert set(by_sha) == {"a", "b", "c"}  # product, background, recalls; not device data
    assert (by_sha["a"].role, by_sha["a"].product_reports, by_sha["a"].record_count) == (
        "product",
        5,
        5,
    )
    assert (by_sha["b"].role, by_sha["b"].product_reports, by_sha["b"].reports_in_store) == (
        "background",
        0,
        12,
    )
    assert by_sha["c"].role == "recalls"
    assert f.meta.generated_data is False


def test_device_identification_event_types_and_codes(store: Engine) -> None:
    f = build_facts(store, device_codes=["lzg"])
    assert f.product.product_codes == ["LZG"]
    assert f.volumes.total_reports == 3
    assert [(e.label, e.count, e.percent) for e in f.volumes.by_event_type] == [
        ("malfunction", 2, 66.7),
        ("injury", 1, 33.3),
    ]
    assert [(d.trade_name, d.risk_class, d.manufacturer_srn) for d in f.identification] == [
        ("PUMPX", "IIb", "DE-MF-000001234")
    ]
    assert [r.recall_number for r in f.recalls.items] == ["Z-0003-2024"]
    assert f.product.verbatim_names == ["PUMPX", "PUMPY"]
    assert f.signals is not None and f.signals.background_reports == 4


def test_several_device_codes_are_one_product(store: Engine) -> None:
    f = build_facts(store, device_codes=["LZG", "DQA"])
    assert f.volumes.total_reports == 4
    assert f.signals is not None and f.signals.product_label == "DQA+LZG"
    assert {d.trade_name for d in f.identification} == {"PUMPX", "OXI"}


def test_since_until_window(store: Engine) -> None:
    f = build_facts(
        store, drug="atorvastatin", since=dt.date(2024, 1, 15), until=dt.date(2024, 2, 28)
    )
    assert f.volumes.total_reports == 2  # a2, a3
    assert f.trend is not None and f.trend.counts == [1, 1]


def test_degenerate_product_has_no_nan(store: Engine) -> None:
    f = build_facts(store, drug="lonely")
    assert f.volumes.total_reports == 1
    assert f.top_events == []
    assert f.volumes.age_median is None
    assert all(math.isfinite(x) for x in _floats(f.model_dump(mode="json")))
    assert "NaN" not in f.to_json() and "Infinity" not in f.to_json()
    Facts.model_validate_json(f.to_json())  # facts.json round-trips


def test_unknown_product_names_it_and_the_import(store: Engine) -> None:
    with pytest.raises(ProductNotFoundError) as err:
        build_facts(store, drug="zzzdrug")
    assert "zzzdrug" in str(err.value) and "cerflow ingest openfda --drug" in str(err.value)
    with pytest.raises(ProductNotFoundError) as err2:
        build_facts(store, device_codes=["XYZ"])
    assert "--device-code XYZ" in str(err2.value)
    with pytest.raises(ProductNotFoundError, match="METFORMIN"):  # suggests stored names
        build_facts(store, drug="metfor")


def test_bad_arguments(store: Engine) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_facts(store, drug="x", device_codes=["LZG"])
    with pytest.raises(ValueError, match="after"):
        build_facts(
            store, drug="atorvastatin", since=dt.date(2025, 1, 1), until=dt.date(2024, 1, 1)
        )


def test_generated_snapshots_mark_the_report(sqlite_engine: Engine) -> None:
    prov = Provenance(source="sample", location="memory://s", sha256="f" * 64, is_generated=True)
    load_reports(sqlite_engine, sf.product_reports(), prov)
    f = build_facts(sqlite_engine, drug="atorvastatin")
    assert f.meta.generated_data is True
    assert [p.is_generated for p in f.provenance] == [True]


def test_device_peers_are_other_manufacturers_of_the_code(store: Engine) -> None:
    f = build_facts(store, device_codes=["LZG"])
    assert f.peers is not None
    # d1, d2 by Pump Co (the most reported manufacturer), d3 by Other Co.
    assert f.peers.peer_products == ["OTHER CO"]
    assert f.peers.peer_reports == 1
    assert "PUMP CO (2 reports)" in f.peers.description
    drug = build_facts(store, drug="atorvastatin")
    assert drug.peers is None and drug.notes["peers"]


def test_a_recall_published_twice_counts_once() -> None:
    """FDA lists a device recall under /device/recall (no class) and /device/enforcement."""
    from cerflow.report.compute import _recalls

    rows = [
        {
            "recall_number": "Z-0100-2024",
            "source": "device_recall",
            "classification": None,
            "report_date": dt.date(2024, 5, 2),
            "status": "Open",
            "firm": "Acme",
            "reason": "Battery may fail",
        },
        {
            "recall_number": "Z-0100-2024",
            "source": "device_enforcement",
            "classification": "II",
            "report_date": dt.date(2024, 5, 9),
            "status": None,
            "firm": "Acme Inc.",
            "reason": None,
        },
        {"recall_number": "Z-0200-2024", "source": "device_enforcement", "classification": "I"},
    ]
    f = _recalls(rows)
    assert (f.total, f.class_i, f.class_ii) == (2, 1, 1)
    first = f.items[0]
    assert first.source == "device_enforcement + device_recall"
    assert (first.classification, first.report_date) == ("II", dt.date(2024, 5, 2))
    assert (first.status, first.firm, first.reason) == ("Open", "Acme", "Battery may fail")


def test_local_paths_are_shown_by_file_name_and_urls_unchanged() -> None:
    from cerflow.report.compute import display_location
    from cerflow.sample import SAMPLE_DIR

    inside = str(SAMPLE_DIR.resolve() / "faers" / "faers_ascii_2022Q1.zip")
    assert display_location(inside) == "faers_ascii_2022Q1.zip"
    assert display_location("https://api.fda.gov/drug/event.json") == (
        "https://api.fda.gov/drug/event.json"
    )
    assert display_location("/home/alice/data/faers_ascii_2024q1.zip") == "faers_ascii_2024q1.zip"
    assert display_location("file:///srv/in/maude%20dev.zip") == "maude dev.zip"
    assert display_location("C:\\Users\\bob\\faers.zip") == "faers.zip"
    assert display_location("ascii/DEMO17Q2.txt") == "ascii/DEMO17Q2.txt"
    assert display_location("memory://recalls") == "memory://recalls"
    # A MAUDE bulk import records all its files in one location, joined by ", ".
    joined = "/srv/a/mdrfoiThru2025.zip, /srv/a/device2024.zip, C:\\x\\foidevproblem.zip"
    assert display_location(joined) == "mdrfoiThru2025.zip, device2024.zip, foidevproblem.zip"
