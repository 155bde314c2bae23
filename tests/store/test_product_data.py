"""`read_product`: every read of a product's CER in one read-only snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cerflow.store.product_data import read_background, read_product, read_snapshot
from tests.report import store_factory as sf


def test_a_drug_is_read_whole(db_engine: Engine) -> None:
    sf.fill(db_engine)
    data = read_product(db_engine, drug="Atorvastatin calcium 20 mg")
    assert data.found and (data.kind, data.label) == ("drug", "ATORVASTATIN")
    assert data.query == "Atorvastatin calcium 20 mg" and data.members == {"ATORVASTATIN"}
    # c1 names atorvastatin only as concomitant: not one of the product's 5 reports.
    assert data.reports.height == 5
    assert set(data.events["term"]) == {"myalgia", "nausea", "headache", "rash"}
    assert data.cutoff == dt.date(2024, 4, 11)
    assert data.store_version is not None and data.store_version.snapshots >= 1
    assert data.snapshots and data.manufacturers.height == 0 and data.similar == ()


def test_devices_carry_their_peer_set(db_engine: Engine) -> None:
    sf.fill(db_engine)
    data = read_product(db_engine, device_codes=["lzg", "dqa"])
    assert (data.kind, data.product_codes, data.label) == ("device", ("DQA", "LZG"), "DQA+LZG")
    assert data.found and data.manufacturers.columns == ["report_id", "product"]


def test_an_unknown_product_is_not_found_with_near_names(db_engine: Engine) -> None:
    sf.fill(db_engine)
    data = read_product(db_engine, drug="atorva")
    assert not data.found and data.similar == ("ATORVASTATIN",)


def test_contradictory_arguments_are_refused(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        read_product(sqlite_engine, drug="x", device_codes=["LZG"])
    with pytest.raises(ValueError, match="after until"):
        read_product(sqlite_engine, drug="x", since=dt.date(2024, 2, 1), until=dt.date(2024, 1, 1))


def test_the_snapshot_is_one_read_only_transaction(db_engine: Engine) -> None:
    with read_snapshot(db_engine) as conn:
        if conn.dialect.name == "postgresql":
            level = conn.execute(text("SHOW transaction_isolation")).scalar_one()
            read_only = conn.execute(text("SHOW transaction_read_only")).scalar_one()
            assert (level, read_only) == ("repeatable read", "on")
            # JIT off for the product reads only: the setting ends with the transaction.
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        else:
            conn.execute(text("SELECT 1"))
            assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]


def test_jit_is_off_only_inside_the_snapshot(db_engine: Engine) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("JIT is a PostgreSQL setting")
    with db_engine.connect() as conn:
        before = conn.execute(text("SHOW jit")).scalar_one()
    with read_snapshot(db_engine) as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    with db_engine.connect() as conn:  # the pooled connection is back to the server's value
        assert conn.execute(text("SHOW jit")).scalar_one() == before


def test_a_load_after_the_first_read_is_not_seen(db_engine: Engine) -> None:
    """Inside the snapshot, rows committed by another connection stay invisible."""
    sf.fill(db_engine)
    with read_snapshot(db_engine) as conn:
        before = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
        with db_engine.begin() as writer:
            writer.execute(text("DELETE FROM report_events"))
        assert conn.execute(text("SELECT count(*) FROM report_events")).scalar_one() > 0
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar_one() == before


def test_the_background_names_the_version_it_saw(db_engine: Engine) -> None:
    sf.fill(db_engine)
    products, events, version = read_background(db_engine, "drug", None, None)
    assert version == read_product(db_engine, drug="atorvastatin").store_version
    assert products.columns == ["report_id", "product"] and events.columns == ["report_id", "event"]
    assert products.height > 0 and events.height > 0


@pytest.mark.parametrize(
    "query",
    [
        {"drug": "atorvastatin"},
        {"device_codes": ["LZG", "DQA"]},
        {"drug": "atorvastatin", "since": dt.date(2024, 1, 15), "until": dt.date(2024, 2, 28)},
    ],
)
def test_events_by_the_read_ids_equal_events_by_the_sub_select(
    db_engine: Engine, query: dict[str, Any]
) -> None:
    """The product's events read by the ids of its reports (an array on PostgreSQL) are
    the rows the id sub-select gives: the same reports, window and kind."""
    from cerflow.store import product_queries as rq
    from cerflow.store.product_data import selector

    sf.fill(db_engine)
    sel, _ = selector(**query)
    with read_snapshot(db_engine) as conn:
        ids = rq.product_reports(conn, sel).get_column("report_id").to_list()
        by_ids = rq.product_events(conn, sel, ids)
        by_select = rq.product_events(conn, sel)
    assert ids and by_ids.height > 0
    order = ["report_id", "term", "term_raw", "term_type"]
    assert by_ids.sort(order).equals(by_select.sort(order))
    assert set(by_ids["report_id"]) <= set(ids)
