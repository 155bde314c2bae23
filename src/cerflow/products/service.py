"""Product search and detail, read through `cerflow.store.product_queries`.

A product is referred to by an FDA device product code (three letters, e.g. ``DQA``) or
by a normalized drug key (``cerflow.store.keys.drug_key``). Counts are of unique
reports. The data version is the newest source snapshot id: it changes with every import,
so it keys the cache.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from cerflow.analysis.trend_test import mann_kendall
from cerflow.config import Settings
from cerflow.errors import ConflictError, NotFoundError
from cerflow.products import schemas
from cerflow.products.models import WatchedProduct
from cerflow.store import product_queries as pq
from cerflow.store.keys import device_code, drug_key
from cerflow.store.models import Device, Recall, Report, ReportProduct

_CODE = re.compile(r"^[A-Z]{3}$")


def data_version(*, session: Session) -> str:
    return str(pq.latest_snapshot_id(session.connection()))


def resolve(ref: str) -> tuple[schemas.Kind, str]:
    """('device', 'DQA') for a product code, ('drug', key) otherwise."""
    code = device_code(ref)
    if code and _CODE.match(code):
        return "device", code
    return "drug", drug_key(ref) or ref.strip().upper()


def _json_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """`value` is an element of the JSON array `column`, on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(column, JSONB).contains([value])
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(*, session: Session, query: str, limit: int) -> list[schemas.ProductHit]:
    """Codes by exact match, drug keys and brand names by prefix/substring."""
    q = query.strip()
    kind, key = resolve(q)
    pattern = f"%{_escape_like(q.upper())}%"
    hits: dict[tuple[str, str], dict[str, Any]] = {}

    def hit(kind: str, ref: str, name: str) -> dict[str, Any]:
        return hits.setdefault(
            (kind, ref),
            {
                "ref": ref,
                "kind": kind,
                "name": name,
                "report_count": 0,
                "recall_count": 0,
                "device_count": 0,
                "sources": set(),
            },
        )

    ref_col = case(
        (ReportProduct.product_code.is_not(None), ReportProduct.product_code),
        else_=ReportProduct.product_key,
    )
    name_col = func.max(func.coalesce(ReportProduct.brand_name, ReportProduct.raw_name))
    conds: list[ColumnElement[bool]] = [
        ReportProduct.product_key.like(f"{_escape_like(key)}%", escape="\\"),
        func.upper(ReportProduct.brand_name).like(pattern, escape="\\"),
    ]
    if kind == "device":
        conds.append(ReportProduct.product_code == key)
    rows = session.execute(
        select(
            ref_col.label("ref"),
            Report.kind,
            name_col.label("name"),
            Report.source,
            func.count(distinct(ReportProduct.report_id)).label("n"),
        )
        .join(Report, Report.id == ReportProduct.report_id)
        .where(or_(*conds))
        .group_by(ref_col, Report.kind, Report.source)
        .order_by(func.count(distinct(ReportProduct.report_id)).desc())
        .limit(limit * 4)
    ).all()
    for ref, rkind, name, source, n in rows:
        h = hit("device" if rkind == "device" else "drug", ref, name or ref)
        h["report_count"] += n
        h["sources"].add(source)

    if kind == "device":
        n_recalls = session.scalar(
            select(func.count())
            .select_from(Recall)
            .where(_json_contains(session, Recall.product_codes, key))
        )
        if n_recalls:
            h = hit("device", key, key)
            h["recall_count"] = n_recalls
            h["sources"].add("recalls")
        n_devices = session.scalar(
            select(func.count())
            .select_from(Device)
            .where(_json_contains(session, Device.product_codes, key))
        )
        if n_devices:
            h = hit("device", key, key)
            h["device_count"] = n_devices
            h["sources"].add("devices")

    ranked = sorted(hits.values(), key=lambda h: (-h["report_count"], h["ref"]))[:limit]
    return [schemas.ProductHit(**{**h, "sources": sorted(h["sources"])}) for h in ranked]


def prr_chi2(
    a: int, n_product: int, n_event: int, n_total: int
) -> tuple[float | None, float | None]:
    """PRR (Evans 2001) and Yates-corrected chi-square of the 2x2 table.

    a = reports with product and event; b = product without event; c = event without
    product; d = neither. None when a ratio is undefined (an empty margin).
    """
    b = n_product - a
    c = n_event - a
    d = n_total - n_product - c
    prr = None if n_product <= 0 or c + d <= 0 or c <= 0 else a / n_product / (c / (c + d))
    rows, cols = (a + b, c + d), (a + c, b + d)
    if n_total <= 0 or 0 in rows or 0 in cols:
        return prr, None
    num = n_total * max(0.0, abs(a * d - b * c) - n_total / 2) ** 2
    chi2 = num / (rows[0] * rows[1] * cols[0] * cols[1])
    return prr, chi2


def _months_between(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    ly, lm = map(int, last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _selector(kind: schemas.Kind, key: str) -> pq.ProductSelector:
    if kind == "device":
        return pq.ProductSelector("device", product_codes=(key,), query=key)
    return pq.ProductSelector("drug", product_keys=(key,), query=key)


def detail(
    *, session: Session, settings: Settings, ref: str, version: str, top_n: int = 10
) -> schemas.ProductDetail | None:
    """The product page: counts, monthly series and trend, top events with a PRR screen,
    recalls and identification, all read through `cerflow.store.product_queries` (the
    same product definition as the CER: drugs in the suspect or interacting role)."""

    kind, key = resolve(ref)
    sel = _selector(kind, key)
    conn = session.connection()
    totals = pq.product_totals(conn, sel)
    counts_by_month = pq.product_monthly_counts(conn, sel)
    monthly = (
        [
            schemas.MonthCount(month=m, count=counts_by_month.get(m, 0))
            for m in _months_between(min(counts_by_month), max(counts_by_month))
        ]
        if counts_by_month
        else []
    )
    # The pure-Python test: NumPy, Polars and SciPy stay out of the API worker.
    mk = mann_kendall([float(mc.count) for mc in monthly])
    trend = schemas.Trend(
        months=len(monthly),
        direction=mk.trend,
        p_value=_finite(mk.p),
        sen_slope_per_month=_finite(mk.sen_slope),
        note="; ".join(mk.notes) or None,
    )
    top_events = [
        schemas.EventCount(term=t, count=n) for t, n in pq.product_top_terms(conn, sel, top_n)
    ]
    signals = _signals(conn, settings, kind, totals.reports, top_events)
    recalls = _recalls(conn, sel)
    identification = _identification(conn, sel)
    if totals.reports == 0 and not recalls and not identification.devices:
        return None
    return schemas.ProductDetail(
        ref=key,
        kind=kind,
        data_version=version,
        counts=schemas.Counts(
            reports=totals.reports,
            serious=totals.serious,
            deaths=totals.deaths,
            by_source=pq.product_counts_by(conn, sel, "source"),
            by_event_type=pq.product_counts_by(conn, sel, "event_type"),
            year_only_dates=totals.year_only,
            undated=totals.undated,
        ),
        monthly=monthly,
        trend=trend,
        top_events=top_events,
        signals=signals,
        recalls=recalls,
        identification=identification,
    )


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def _signals(
    conn: Connection,
    settings: Settings,
    kind: schemas.Kind,
    n_product: int,
    top: Sequence[schemas.EventCount],
) -> list[schemas.Signal]:
    """PRR screen of the product's top events against all reports of the same kind."""
    if not top or n_product == 0:
        return []
    n_total, _ = pq.kind_summary(conn, kind, None, None)
    n_event = pq.term_report_counts(conn, kind, [e.term for e in top])
    out = []
    for e in top:
        prr, chi2 = prr_chi2(e.count, n_product, int(n_event.get(e.term, e.count)), n_total)
        flagged = (
            prr is not None
            and chi2 is not None
            and prr >= settings.signal_prr_min
            and chi2 >= settings.signal_chi2_min
            and e.count >= settings.signal_min_count
        )
        out.append(schemas.Signal(term=e.term, a=e.count, prr=prr, chi2=chi2, signal=flagged))
    return out


def _recalls(conn: Connection, sel: pq.ProductSelector) -> list[schemas.RecallOut]:
    rows = pq.recalls_for(conn, sel)[:50]
    return [
        schemas.RecallOut(
            recall_number=r["recall_number"],
            source=r["source"],
            classification=r.get("classification"),
            reason=r.get("reason"),
            status=r.get("status"),
            firm=r.get("firm"),
            report_date=r.get("report_date"),
        )
        for r in rows
    ]


def _identification(conn: Connection, sel: pq.ProductSelector) -> schemas.Identification:
    names = pq.product_name_counts(conn, sel, "name", 10)
    makers = pq.product_name_counts(conn, sel, "manufacturer", 10)
    devices: list[schemas.DeviceOut] = []
    if sel.kind == "device":
        devices = [
            schemas.DeviceOut(
                udi_di=d.get("udi_di"),
                trade_name=d.get("trade_name"),
                risk_class=d.get("risk_class"),
                manufacturer_name=d.get("manufacturer_name"),
                manufacturer_srn=d.get("manufacturer_srn"),
            )
            for d in pq.devices_for(conn, sel.product_codes, [])[:20]
        ]
    return schemas.Identification(
        names=[n for n, _ in names],
        manufacturers=[m for m, _ in makers],
        devices=devices,
    )


__all__ = ["data_version", "detail", "prr_chi2", "resolve", "search"]


# --- a user's watched products (the job layer refreshes them on a schedule) ------------


def list_watched(*, session: Session, user_id: int) -> list[WatchedProduct]:
    return list(
        session.scalars(
            select(WatchedProduct)
            .where(WatchedProduct.user_id == user_id)
            .order_by(WatchedProduct.id)
        )
    )


def watch(*, session: Session, user_id: int, product_ref: str, note: str | None) -> WatchedProduct:
    """Watch a product once per user: the normalized reference is the key."""
    kind, key = resolve(product_ref)
    existing = session.scalar(
        select(WatchedProduct.id).where(
            WatchedProduct.user_id == user_id, WatchedProduct.product_ref == key
        )
    )
    if existing is not None:
        raise ConflictError(f"you already watch {key} (id {existing})")
    item = WatchedProduct(user_id=user_id, product_ref=key, kind=kind, note=note)
    session.add(item)
    session.flush()
    return item


def own_watched(*, session: Session, user_id: int, item_id: int) -> WatchedProduct:
    """The caller's item; another user's gets the same 404 as a missing one."""
    item = session.get(WatchedProduct, item_id)
    if item is None or item.user_id != user_id:
        raise NotFoundError(f"no watched product with id {item_id}")
    return item


def update_watched(
    *, session: Session, user_id: int, item_id: int, changes: dict[str, Any]
) -> WatchedProduct:
    """Apply the fields the client sent (`note` may be set to null to clear it)."""
    item = own_watched(session=session, user_id=user_id, item_id=item_id)
    if "note" in changes:
        item.note = changes["note"]
    session.flush()
    return item


def unwatch(*, session: Session, user_id: int, item_id: int) -> None:
    session.delete(own_watched(session=session, user_id=user_id, item_id=item_id))
