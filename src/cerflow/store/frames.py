"""The only bridge from the store to `cerflow.analysis`: SQL queries returning Polars frames.

Frames follow the contract in `cerflow.analysis.trends` (``reports``: report_id,
received_date, received_precision, serious, the seriousness flags, event_type, source,
kind; ``events``: report_id, term) and `cerflow.analysis.disproportionality`
(``products``: report_id, product; ``events``: report_id, event).

Which reports belong to a drug: those naming its normalized ``product_key`` with role
*suspect* or *interacting* (`DRUG_ROLES`). Concomitant drugs are left out, as in FAERS
disproportionality practice: a concomitant medication was not suspected by the reporter,
and counting it would attribute every co-medication's events to the drug. A device's
reports are those naming one of its FDA product codes (any role).

Queries select only the needed columns and stream rows in partitions (`BATCH_ROWS`), so
whole-store frames for all-pairs signals do not materialize ORM objects. The same Core
statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from sqlalchemy import Connection, Executable, Select, func, select

from cerflow.store.keys import device_code, drug_key
from cerflow.store.models import Report, ReportEvent, ReportProduct

Kind = Literal["drug", "device"]
DRUG_ROLES: tuple[str, ...] = ("suspect", "interacting")
BATCH_ROWS = 50_000

REPORT_SCHEMA: dict[str, pl.DataType] = {
    "report_id": pl.Int64(),
    "source": pl.Utf8(),
    "kind": pl.Utf8(),
    "received_date": pl.Date(),
    "received_precision": pl.Utf8(),
    "serious": pl.Boolean(),
    "death": pl.Boolean(),
    "life_threatening": pl.Boolean(),
    "hospitalization": pl.Boolean(),
    "disability": pl.Boolean(),
    "congenital_anomaly": pl.Boolean(),
    "required_intervention": pl.Boolean(),
    "other_serious": pl.Boolean(),
    "event_type": pl.Utf8(),
    "country": pl.Utf8(),
    "sex": pl.Utf8(),
    "age_years": pl.Float64(),
}


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """What the user asked for, normalized the way the ETL normalized the store."""

    kind: Kind
    keys: tuple[str, ...]  # drug product keys or device product codes
    query: str  # verbatim

    @classmethod
    def drug(cls, name: str) -> ProductQuery:
        key = drug_key(name)
        if not key:
            raise ValueError(f"drug name {name!r} has no usable ingredient after normalization")
        return cls("drug", (key,), name)

    @classmethod
    def device(cls, codes: str | Sequence[str]) -> ProductQuery:
        raw = [codes] if isinstance(codes, str) else list(codes)
        keys = tuple(
            sorted({c for part in raw for c in (device_code(p) for p in part.split(",")) if c})
        )
        if not keys:
            raise ValueError(f"device product code {codes!r} is empty")
        return cls("device", keys, ",".join(raw))


def _frame(conn: Connection, stmt: Executable, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    result = conn.execution_options(yield_per=BATCH_ROWS).execute(stmt)
    parts = [
        pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        for rows in result.partitions()
    ]
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical", rechunk=True)


def _product_filter(query: ProductQuery, roles: Sequence[str] = DRUG_ROLES) -> Any:
    if query.kind == "drug":
        return ReportProduct.product_key.in_(query.keys) & ReportProduct.role.in_(list(roles))
    return ReportProduct.product_code.in_(query.keys)


def product_report_ids(query: ProductQuery, *, roles: Sequence[str] = DRUG_ROLES) -> Select[Any]:
    """A SELECT of the distinct report ids of a product (usable as a subquery)."""
    return select(ReportProduct.report_id).where(_product_filter(query, roles)).distinct()


def _report_columns() -> list[Any]:
    return [
        Report.id.label("report_id"),
        *(getattr(Report, name) for name in list(REPORT_SCHEMA)[1:]),
    ]


def product_reports(
    conn: Connection, query: ProductQuery, *, roles: Sequence[str] = DRUG_ROLES
) -> pl.DataFrame:
    """One row per report of the product (the `trends` ``reports`` contract)."""
    ids = product_report_ids(query, roles=roles)
    stmt = select(*_report_columns()).where(Report.id.in_(ids)).order_by(Report.id)
    return _frame(conn, stmt, REPORT_SCHEMA)


def product_events(
    conn: Connection, query: ProductQuery, *, roles: Sequence[str] = DRUG_ROLES
) -> pl.DataFrame:
    """Distinct (report_id, term) of the product's reports."""
    ids = product_report_ids(query, roles=roles)
    stmt = (
        select(ReportEvent.report_id, ReportEvent.term)
        .where(ReportEvent.report_id.in_(ids))
        .distinct()
        .order_by(ReportEvent.report_id, ReportEvent.term)
    )
    return _frame(conn, stmt, {"report_id": pl.Int64(), "term": pl.Utf8()})


def all_products(
    conn: Connection, *, kind: Kind, roles: Sequence[str] = DRUG_ROLES
) -> pl.DataFrame:
    """Whole-store (report_id, product) of one kind: drug keys (suspect/interacting) or
    device product codes -- the background of all-pairs signals."""
    col: Any
    if kind == "drug":
        col = ReportProduct.product_key
        cond = ReportProduct.role.in_(list(roles))
    else:
        col = ReportProduct.product_code
        cond = ReportProduct.product_code.is_not(None)
    stmt = (
        select(ReportProduct.report_id, col.label("product"))
        .join(Report, Report.id == ReportProduct.report_id)
        .where(cond, Report.kind == kind)
        .distinct()
    )
    return _frame(conn, stmt, {"report_id": pl.Int64(), "product": pl.Utf8()})


def all_events(conn: Connection, *, kind: Kind) -> pl.DataFrame:
    """Whole-store (report_id, event) of one kind, distinct."""
    stmt = (
        select(ReportEvent.report_id, ReportEvent.term.label("event"))
        .join(Report, Report.id == ReportEvent.report_id)
        .where(Report.kind == kind)
        .distinct()
    )
    return _frame(conn, stmt, {"report_id": pl.Int64(), "event": pl.Utf8()})


def device_manufacturer_products(conn: Connection, codes: Sequence[str]) -> pl.DataFrame:
    """(report_id, product) for device reports with one of `codes`, the product being the
    manufacturer (else the brand, else ``unknown``): the peer set of a device is the other
    manufacturers of the same product code."""
    label = func.coalesce(
        func.upper(ReportProduct.manufacturer), func.upper(ReportProduct.brand_name), "UNKNOWN"
    )
    stmt = (
        select(ReportProduct.report_id, label.label("product"))
        .where(ReportProduct.product_code.in_(list(codes)))
        .distinct()
    )
    return _frame(conn, stmt, {"report_id": pl.Int64(), "product": pl.Utf8()})


def events_for_reports(conn: Connection, report_ids: Select[Any]) -> pl.DataFrame:
    """(report_id, event) for the reports selected by `report_ids` (a SELECT of ids)."""
    stmt = (
        select(ReportEvent.report_id, ReportEvent.term.label("event"))
        .where(ReportEvent.report_id.in_(report_ids))
        .distinct()
    )
    return _frame(conn, stmt, {"report_id": pl.Int64(), "event": pl.Utf8()})


def count_product_reports(conn: Connection, query: ProductQuery) -> int:
    stmt = select(func.count()).select_from(product_report_ids(query).subquery())
    return int(conn.execute(stmt).scalar_one())


def search_drugs(conn: Connection, text: str, *, limit: int = 10) -> list[tuple[str, int]]:
    """Drug keys containing the normalized `text` (or its raw name), with report counts."""
    key = drug_key(text) or text.upper()
    pattern = f"%{key}%"
    stmt = (
        select(ReportProduct.product_key, func.count(func.distinct(ReportProduct.report_id)))
        .where(
            ReportProduct.role.in_(list(DRUG_ROLES)),
            ReportProduct.product_key.like(pattern)
            | func.upper(ReportProduct.raw_name).like(pattern),
        )
        .group_by(ReportProduct.product_key)
        .order_by(
            func.count(func.distinct(ReportProduct.report_id)).desc(), ReportProduct.product_key
        )
        .limit(limit)
    )
    return [(str(k), int(n)) for k, n in conn.execute(stmt)]


def search_device_codes(conn: Connection, text: str, *, limit: int = 10) -> list[tuple[str, int]]:
    """Device product codes starting with `text`, or whose brand/manufacturer contains it."""
    code = (device_code(text) or "").strip()
    pattern = f"%{text.upper()}%"
    stmt = (
        select(ReportProduct.product_code, func.count(func.distinct(ReportProduct.report_id)))
        .where(
            ReportProduct.product_code.is_not(None),
            ReportProduct.product_code.like(f"{code}%")
            | func.upper(ReportProduct.brand_name).like(pattern)
            | func.upper(ReportProduct.manufacturer).like(pattern),
        )
        .group_by(ReportProduct.product_code)
        .order_by(
            func.count(func.distinct(ReportProduct.report_id)).desc(), ReportProduct.product_code
        )
        .limit(limit)
    )
    return [(str(k), int(n)) for k, n in conn.execute(stmt)]
