"""Store -> frames (`cerflow.store.product_queries`): hand-built rows, the answers counted
by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import Engine

from cerflow.store import product_queries as frames
from cerflow.store.product_queries import REPORT_FRAME_COLUMNS, ProductSelector
from tests.store.store_rows import seed_small_store


def test_product_frames(db_engine: Engine) -> None:
    ids = seed_small_store(db_engine)
    aspirin = ProductSelector.drug("Aspirin 81 mg tablet")
    assert aspirin.keys == ("ASPIRIN",)
    with db_engine.connect() as conn:
        reports = frames.product_reports(conn, aspirin)
        events = frames.product_events(conn, aspirin)
        n = frames.count_product_reports(conn, aspirin)
    # Suspect R1, R2 and interacting R5; R4 names aspirin only as concomitant.
    assert reports["report_id"].to_list() == sorted([ids["R1"], ids["R2"], ids["R5"]])
    assert n == 3
    assert dict(reports.schema) == REPORT_FRAME_COLUMNS
    r1 = reports.filter(pl.col("report_id") == ids["R1"]).row(0, named=True)
    assert r1["received_date"] == dt.date(2021, 1, 10) and r1["death"] is True
    assert r1["serious"] is True and r1["hospitalization"] is False
    r5 = reports.filter(pl.col("report_id") == ids["R5"]).row(0, named=True)
    assert r5["serious"] is None
    assert sorted(events.select("report_id", "term").unique().rows()) == sorted(
        [(ids["R1"], "headache"), (ids["R1"], "nausea"), (ids["R2"], "nausea")]
    )


def test_whole_store_frames(db_engine: Engine) -> None:
    ids = seed_small_store(db_engine)
    with db_engine.connect() as conn:
        products = frames.all_products(conn, kind="drug")
        events = frames.all_events(conn, kind="drug")
        devices = frames.all_products(conn, kind="device")
        device_events = frames.all_events(conn, kind="device")
        makers = frames.device_manufacturer_products(conn, ["DQA"])
        peer_events = frames.events_for_reports(
            conn, frames.product_report_ids(ProductSelector.device("dqa"))
        )
    assert sorted(products.rows()) == sorted(
        [
            (ids["R1"], "ASPIRIN"),
            (ids["R2"], "ASPIRIN"),
            (ids["R3"], "IBUPROFEN"),
            (ids["R4"], "WARFARIN"),
            (ids["R5"], "ASPIRIN"),
        ]
    )
    assert events.height == 5 and set(events["event"]) == {
        "nausea",
        "headache",
        "rash",
        "haemorrhage",
    }
    assert sorted(devices.rows()) == sorted(
        [(ids["D1"], "DQA"), (ids["D2"], "DQA"), (ids["D3"], "LZG")]
    )
    assert device_events.height == 3
    assert sorted(makers.rows()) == sorted([(ids["D1"], "ACME"), (ids["D2"], "BETA")])
    assert sorted(peer_events.rows()) == sorted(
        [(ids["D1"], "device malfunction"), (ids["D2"], "burn")]
    )


def test_search_helpers(db_engine: Engine) -> None:
    seed_small_store(db_engine)
    with db_engine.connect() as conn:
        assert frames.search_drugs(conn, "asp") == [("ASPIRIN", 3)]
        assert frames.search_drugs(conn, "zzz") == []
        assert frames.search_device_codes(conn, "dq") == [("DQA", 2)]
        assert frames.search_device_codes(conn, "acme") == [("DQA", 1), ("LZG", 1)]


def test_empty_store_gives_typed_empty_frames(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        reports = frames.product_reports(conn, ProductSelector.device("NIQ"))
        products = frames.all_products(conn, kind="drug")
    assert reports.height == 0 and dict(reports.schema) == REPORT_FRAME_COLUMNS
    assert products.height == 0 and products.columns == ["report_id", "product"]


def test_product_query_validation() -> None:
    assert ProductSelector.device("dqa, lzg").keys == ("DQA", "LZG")
    with pytest.raises(ValueError, match="no usable ingredient"):
        ProductSelector.drug("  ")
    with pytest.raises(ValueError, match="empty"):
        ProductSelector.device(" , ")


def test_whole_store_frames_read_in_batches(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2 rows (a server-side cursor on PostgreSQL) give the same frames as one
    read: the full-history background is read this way so that its ~10^8 rows never sit in
    memory as Python tuples."""
    seed_small_store(db_engine)
    with db_engine.connect() as conn:
        whole = (frames.all_products(conn, kind="drug"), frames.all_events(conn, kind="drug"))
    monkeypatch.setattr(frames, "BACKGROUND_BATCH_ROWS", 2)
    with db_engine.connect() as conn:
        batched = (frames.all_products(conn, kind="drug"), frames.all_events(conn, kind="drug"))
    for one, other in zip(whole, batched, strict=True):
        assert one.schema == other.schema
        assert sorted(one.rows()) == sorted(other.rows())
    assert batched[0].height == 5 and batched[1].height == 5
