"""`compute_facts_from`: Facts from a hand-built `ProductData`, no database at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cerflow.analysis.thresholds import SignalThresholds
from cerflow.config import Settings
from cerflow.report.compute import (
    SignalOutcome,
    compute_facts_from,
    signals_from_background,
)
from cerflow.report.facts_builder import build_facts
from cerflow.report.labelling import apply_labelling
from cerflow.store.labels import read_label
from cerflow.store.product_data import (
    MANUFACTURER_SCHEMA,
    ProductData,
    read_background,
    read_product,
)
from cerflow.store.product_queries import REPORT_FRAME_COLUMNS, StoreVersion
from tests.report import store_factory as sf

THRESHOLDS = SignalThresholds.from_settings(Settings())


def _report(rid: int, day: dt.date | None, precision: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REPORT_FRAME_COLUMNS)
    flags = ("serious", "death", "life_threatening", "hospitalization", "disability")
    row.update({f: False for f in flags})
    row.update(report_id=rid, source="faers", received_date=day, received_precision=precision)
    row.update(snapshot_id=7, **kw)
    return row


def _data() -> ProductData:
    reports = pl.DataFrame(
        [
            _report(1, dt.date(2024, 1, 10), "D", serious=True, sex="F", age_years=40.0),
            _report(2, dt.date(2024, 1, 20), "D", serious=True, death=True, sex="M"),
            _report(3, dt.date(2024, 3, 1), "M", sex="F", age_years=60.0),
            _report(4, dt.date(2024, 1, 1), "Y"),
        ],
        schema=REPORT_FRAME_COLUMNS,
    )
    events = pl.DataFrame(
        {
            "report_id": [1, 2, 3, 4],
            "term": ["myalgia", "myalgia", "nausea", "myalgia"],
            "term_raw": ["Myalgia", "MYALGIA", "Nausea", "Myalgia"],
            "term_type": ["pt"] * 4,
        }
    )
    rows = pl.DataFrame(
        {
            "report_id": [1, 2, 3, 4],
            "product_key": ["ZETA"] * 4,
            "raw_name": ["ZETA 10 MG", "ZETA", "ZETA", "ZETA"],
            "brand_name": [None] * 4,
            "manufacturer": ["ACME"] * 4,
            "product_code": [None] * 4,
        },
        schema_overrides={"brand_name": pl.Utf8(), "product_code": pl.Utf8()},
    )
    snapshot = {
        "id": 7,
        "source": "faers_ascii",
        "location": "/home/builder/data/faers_2024q1.zip",
        "query": None,
        "retrieved_at": dt.datetime(2024, 5, 1, 12, 0),
        "record_count": 4,
        "sha256": "f" * 64,
        "is_generated": False,
        "stats": {"load": {"inserted": 4}},
    }
    recalls = (
        {"recall_number": "D-1", "source": "drug_enforcement", "classification": "II"},
        {"recall_number": "D-1", "source": "drug_recall", "classification": None},
    )
    return ProductData(
        kind="drug",
        query="zeta 10 mg",
        product_keys=("ZETA",),
        product_codes=(),
        since=None,
        until=None,
        reports=reports,
        events=events,
        product_rows=rows,
        manufacturers=pl.DataFrame(schema=MANUFACTURER_SCHEMA),
        cutoff=dt.date(2024, 3, 31),
        in_store={7: 4},
        recalls=recalls,
        devices=(),
        snapshots=(snapshot,),
        store_version=StoreVersion(1, 7, "f" * 64, "2024-05-01T12:00:00"),
    )


def test_hand_built_data_give_hand_counted_facts() -> None:
    f = compute_facts_from(
        _data(), thresholds=THRESHOLDS, signals=SignalOutcome(None, ("not estimable: test",))
    )
    assert (f.product.display_name, f.product.verbatim_names) == ("Zeta", ["ZETA", "ZETA 10 MG"])
    assert (f.volumes.total_reports, f.volumes.serious, f.volumes.deaths) == (4, 2, 1)
    assert f.volumes.year_only_dates == 1
    assert [(e.label, e.count) for e in f.top_events] == [("Myalgia", 3), ("Nausea", 1)]
    assert f.trend is not None and f.trend.months == ["2024-01", "2024-02", "2024-03"]
    assert f.trend.counts == [2, 0, 1]  # report 4 is year-only
    assert f.signals is None and f.notes["signals"] == ["not estimable: test"]
    assert f.peers is None and f.notes["peers"]
    assert (f.recalls.total, f.recalls.class_ii) == (1, 1)
    (snap,) = f.provenance
    assert (snap.location, snap.role, snap.product_reports) == ("faers_2024q1.zip", "product", 4)
    assert f.meta.report_id == "CER-ZETA-20240331" and f.meta.data_cutoff == dt.date(2024, 3, 31)


def test_read_then_compute_is_build_facts(db_engine: Engine) -> None:
    sf.fill(db_engine)
    data = read_product(db_engine, drug="atorvastatin")
    products, events, _ = read_background(db_engine, "drug", None, None)
    signals = signals_from_background(
        products, events, members=data.members, label=data.label, thresholds=THRESHOLDS
    )
    composed = compute_facts_from(data, thresholds=THRESHOLDS, signals=signals)
    # then the labelled status from the stored label (none here), as build_facts does
    composed = apply_labelling(composed, read_label(db_engine, data.product_keys))
    # and the literature review (issue 14; none stored here: the chapter says what is missing)
    from cerflow.report.literature import apply_literature, read_literature

    composed = apply_literature(composed, read_literature(db_engine, [("drug", "ATORVASTATIN")]))
    built = build_facts(db_engine, drug="atorvastatin", settings=Settings())
    one, two = composed.model_dump(mode="json"), built.model_dump(mode="json")
    one["meta"].pop("generated_at")
    two["meta"].pop("generated_at")
    assert one == two
    assert built.signals is not None and built.signals.product_label == "ATORVASTATIN"
