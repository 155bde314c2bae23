"""Drugs' pharmacologic classes in the store: write (from the ETL) and the peer reads.

    save_classes(engine, pairs, source="openfda:/drug/event.json", snapshot_id=3)
    classes_of(conn, ["atorvastatin"])            -> {"HMG-CoA Reductase Inhibitor [EPC]"}
    products_in_classes(conn, classes)            -> {"atorvastatin", "rosuvastatin", ...}

Upserts are portable (select, then insert what is missing) so SQLite and PostgreSQL share
the code; the table is small (one row per product and class).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update

from cerflow.store.models import ProductClass, Report, ReportEvent, ReportProduct

CLASS_TYPE_EPC = "epc"


def save_classes(
    engine: Engine,
    pairs: Iterable[tuple[str, str]],
    *,
    source: str,
    snapshot_id: int | None = None,
    class_type: str = CLASS_TYPE_EPC,
) -> int:
    """Store (product key, class) pairs; returns how many were new. Known pairs get the
    newer snapshot and time, so provenance names the latest query that confirmed them."""
    wanted = {(k, c) for k, c in pairs if k and c}
    if not wanted:
        return 0
    now = dt.datetime.now(dt.UTC)
    keys = sorted({k for k, _ in wanted})
    with engine.begin() as conn:
        existing = {
            (k, c): i
            for i, k, c in conn.execute(
                select(ProductClass.id, ProductClass.product_key, ProductClass.class_name)
                .where(ProductClass.class_type == class_type)
                .where(ProductClass.product_key.in_(keys))
            ).all()
        }
        new = sorted(wanted - set(existing))
        if new:
            conn.execute(
                insert(ProductClass),
                [
                    {
                        "product_key": k,
                        "class_type": class_type,
                        "class_name": c,
                        "source": source,
                        "snapshot_id": snapshot_id,
                        "updated_at": now,
                    }
                    for k, c in new
                ],
            )
        seen = [existing[p] for p in wanted if p in existing]
        if seen and snapshot_id is not None:
            conn.execute(
                update(ProductClass)
                .where(ProductClass.id.in_(seen))
                .values(snapshot_id=snapshot_id, source=source, updated_at=now)
            )
    return len(new)


def classes_of(
    conn: Connection, product_keys: Collection[str], class_type: str = CLASS_TYPE_EPC
) -> list[str]:
    """The classes of the given product keys, sorted."""
    if not product_keys:
        return []
    rows = conn.execute(
        select(ProductClass.class_name)
        .where(ProductClass.class_type == class_type)
        .where(ProductClass.product_key.in_(list(product_keys)))
        .distinct()
    ).all()
    return sorted(r[0] for r in rows)


def products_in_classes(
    conn: Connection, classes: Collection[str], class_type: str = CLASS_TYPE_EPC
) -> list[str]:
    """Every stored product key that carries one of `classes`, sorted."""
    if not classes:
        return []
    rows = conn.execute(
        select(ProductClass.product_key)
        .where(ProductClass.class_type == class_type)
        .where(ProductClass.class_name.in_(list(classes)))
        .distinct()
    ).all()
    return sorted(r[0] for r in rows)


def class_products(
    conn: Connection,
    product_keys: Collection[str],
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(report_id, product) and (report_id, event) of every drug report naming one of
    `product_keys` as suspect or interacting drug, in the window: the universe of a drug
    peer comparison (the product and its class peers)."""
    from cerflow.store import product_queries as rq

    schema_p = {"report_id": pl.Int64(), "product": pl.Utf8()}
    schema_e = {"report_id": pl.Int64(), "event": pl.Utf8()}
    if not product_keys:
        return pl.DataFrame(schema=schema_p), pl.DataFrame(schema=schema_e)
    stmt = (
        select(ReportProduct.report_id, ReportProduct.product_key)
        .join(Report, Report.id == ReportProduct.report_id)
        .where(Report.kind == "drug")
        .where(ReportProduct.role.in_(rq.DRUG_ROLES))
        .where(ReportProduct.product_key.in_(list(product_keys)))
    )
    stmt = rq._window(stmt, since, until)
    # Ids and text only: straight from the DB-API cursor (class peers can be 10^5 rows).
    products = rq._frame(rq._fetch_raw(conn, stmt), schema_p).unique()
    ids = stmt.with_only_columns(ReportProduct.report_id).distinct()
    ev = select(ReportEvent.report_id, ReportEvent.term).where(ReportEvent.report_id.in_(ids))
    events = rq._frame(rq._fetch_raw(conn, ev), schema_e).unique()
    return products, events
