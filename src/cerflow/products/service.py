"""Product search and detail straight from the store (until `cerflow.store.frames` lands).

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
    Select,
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
from sqlalchemy.orm import Session

from cerflow.analysis.trends import mann_kendall
from cerflow.config import Settings
from cerflow.errors import ConflictError, NotFoundError
from cerflow.products import schemas
from cerflow.products.models import WatchedProduct
from cerflow.store.keys import device_code, drug_key
from cerflow.store.models import Device, Recall, Report, ReportEvent, ReportProduct, SourceSnapshot

_CODE = re.compile(r"^[A-Z]{3}$")


def data_version(*, session: Session) -> str:
    return str(session.scalar(select(func.coalesce(func.max(SourceSnapshot.id), 0))))


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


def _product_match(kind: str, key: str) -> ColumnElement[bool]:
    if kind == "device":
        return ReportProduct.product_code == key
    return ReportProduct.product_key == key


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


def _month_expr(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(Report.received_date, "YYYY-MM")
    return func.strftime("%Y-%m", Report.received_date)


def _months_between(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    ly, lm = map(int, last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def detail(
    *, session: Session, settings: Settings, ref: str, version: str, top_n: int = 10
) -> schemas.ProductDetail | None:
    kind, key = resolve(ref)
    ids = select(ReportProduct.report_id).where(_product_match(kind, key)).distinct()
    ids_sq = ids.subquery()
    in_product = Report.id.in_(select(ids_sq.c.report_id))

    totals = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Report.serious.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Report.death.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Report.received_precision == "Y", 1), else_=0)), 0),
            func.coalesce(func.sum(case((Report.received_date.is_(None), 1), else_=0)), 0),
        ).where(in_product)
    ).one()
    by_source = _grouped(session, select(Report.source, func.count()).where(in_product))
    by_event_type = _grouped(
        session,
        select(Report.event_type, func.count()).where(in_product, Report.event_type.is_not(None)),
    )

    month = _month_expr(session)
    monthly_rows = session.execute(
        select(month, func.count())
        .where(in_product, Report.received_precision.in_(("M", "D")))
        .group_by(month)
        .order_by(month)
    ).all()
    counts_by_month = {str(m): int(n) for m, n in monthly_rows if m}
    monthly = (
        [
            schemas.MonthCount(month=m, count=counts_by_month.get(m, 0))
            for m in _months_between(min(counts_by_month), max(counts_by_month))
        ]
        if counts_by_month
        else []
    )
    mk = mann_kendall([float(mc.count) for mc in monthly])
    trend = schemas.Trend(
        months=len(monthly),
        direction=str(getattr(mk.trend, "value", mk.trend)),
        p_value=_finite(mk.p),
        sen_slope_per_month=_finite(mk.sen_slope),
        note="; ".join(mk.notes) or None,
    )

    top_rows = session.execute(
        select(ReportEvent.term, func.count(distinct(ReportEvent.report_id)).label("n"))
        .where(ReportEvent.report_id.in_(select(ids_sq.c.report_id)))
        .group_by(ReportEvent.term)
        .order_by(func.count(distinct(ReportEvent.report_id)).desc(), ReportEvent.term)
        .limit(top_n)
    ).all()
    top_events = [schemas.EventCount(term=t, count=int(n)) for t, n in top_rows]
    signals = _signals(session, settings, kind, int(totals[0]), top_events)

    recalls = _recalls(session, kind, key)
    identification = _identification(session, kind, key)
    if int(totals[0]) == 0 and not recalls and not identification.devices:
        return None
    return schemas.ProductDetail(
        ref=key,
        kind=kind,
        data_version=version,
        counts=schemas.Counts(
            reports=int(totals[0]),
            serious=int(totals[1]),
            deaths=int(totals[2]),
            by_source=by_source,
            by_event_type=by_event_type,
            year_only_dates=int(totals[3]),
            undated=int(totals[4]),
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


def _grouped(session: Session, stmt: Select[Any, Any]) -> dict[str, int]:
    col = stmt.selected_columns[0]
    return {str(k): int(n) for k, n in session.execute(stmt.group_by(col)).all()}


def _signals(
    session: Session,
    settings: Settings,
    kind: str,
    n_product: int,
    top: Sequence[schemas.EventCount],
) -> list[schemas.Signal]:
    """PRR screen of the product's top events against all reports of the same kind."""
    if not top or n_product == 0:
        return []
    report_kind = "device" if kind == "device" else "drug"
    n_total = int(
        session.scalar(select(func.count()).select_from(Report).where(Report.kind == report_kind))
        or 0
    )
    n_event = dict(
        session.execute(
            select(ReportEvent.term, func.count(distinct(ReportEvent.report_id)))
            .join(Report, Report.id == ReportEvent.report_id)
            .where(Report.kind == report_kind, ReportEvent.term.in_([e.term for e in top]))
            .group_by(ReportEvent.term)
        ).all()
    )
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


def _recalls(session: Session, kind: str, key: str) -> list[schemas.RecallOut]:
    column = Recall.product_codes if kind == "device" else Recall.product_keys
    rows = session.scalars(
        select(Recall)
        .where(_json_contains(session, column, key))
        .order_by(Recall.report_date.desc(), Recall.recall_number)
        .limit(50)
    ).all()
    return [
        schemas.RecallOut(
            recall_number=r.recall_number,
            source=r.source,
            classification=r.classification,
            reason=r.reason,
            status=r.status,
            firm=r.firm,
            report_date=r.report_date,
        )
        for r in rows
    ]


def _identification(session: Session, kind: str, key: str) -> schemas.Identification:
    match = _product_match(kind, key)
    name_col = func.coalesce(ReportProduct.brand_name, ReportProduct.raw_name)
    names = session.execute(
        select(name_col, func.count())
        .where(match, name_col.is_not(None))
        .group_by(name_col)
        .order_by(func.count().desc(), name_col)
        .limit(10)
    ).all()
    makers = session.execute(
        select(ReportProduct.manufacturer, func.count())
        .where(match, ReportProduct.manufacturer.is_not(None))
        .group_by(ReportProduct.manufacturer)
        .order_by(func.count().desc(), ReportProduct.manufacturer)
        .limit(10)
    ).all()
    devices: list[schemas.DeviceOut] = []
    if kind == "device":
        rows = session.scalars(
            select(Device)
            .where(_json_contains(session, Device.product_codes, key))
            .order_by(Device.id)
            .limit(20)
        ).all()
        devices = [
            schemas.DeviceOut(
                udi_di=d.udi_di,
                trade_name=d.trade_name,
                risk_class=d.risk_class,
                manufacturer_name=d.manufacturer_name,
                manufacturer_srn=d.manufacturer_srn,
            )
            for d in rows
        ]
    return schemas.Identification(
        names=[str(n) for n, _ in names],
        manufacturers=[str(m) for m, _ in makers],
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
