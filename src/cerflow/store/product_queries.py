"""The store's reads of products, as Polars frames in the shape `cerflow.analysis` expects.

The one module every reader of product data goes through: the CER's read step
(`cerflow.store.product_data`), the CLI's analysis commands and the API's product pages.
`cerflow.analysis` is pure and never touches the store, so these functions are its only
bridge to the data. Every function takes an open `Connection`, so a caller decides what
one consistent view is (`product_data.read_snapshot` holds one transaction for a report).

Frames follow the contract in `cerflow.analysis.trends` (``reports``: one row per report,
`REPORT_FRAME_COLUMNS`; ``events``: report_id, term) and
`cerflow.analysis.disproportionality` (``products``: report_id, product; ``events``:
report_id, event).

Which product rows count: for drugs, products in the suspect or interacting role
(`DRUG_ROLES`; a concomitant drug is not suspected of anything, and counting it would
attribute every co-medication's events to the drug, as FAERS practice also holds); for
devices, the device rows' FDA product codes (any role). A report that names the product
twice counts once. The same Core statements run on SQLite and PostgreSQL; the
whole-store reads go straight through the DB-API cursor (`_fetch_raw`) because they are
10^5..10^6 rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    select,
)

from cerflow.store.collation import display_key, top_counted
from cerflow.store.keys import device_code, drug_key
from cerflow.store.models import (
    Device,
    Recall,
    Report,
    ReportEvent,
    ReportProduct,
    SignalReview,
    SourceSnapshot,
)

if TYPE_CHECKING:
    import polars as pl  # imported where frames are built: the API imports this module

Kind = Literal["drug", "device"]
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
DRUG_ROLES = ("suspect", "interacting")


def report_frame_columns() -> dict[str, Any]:
    """The columns and dtypes of `product_reports` (also `REPORT_FRAME_COLUMNS`): built on
    first use, so importing this module does not import Polars (the API process reads
    products through it and never builds a frame at start-up)."""
    import polars as pl

    return {
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
        "snapshot_id": pl.Int64(),
    }


if TYPE_CHECKING:
    REPORT_FRAME_COLUMNS: dict[str, Any]
else:

    def __getattr__(name: str) -> Any:
        # The historical constant, for its importers and tests; built on first use.
        if name == "REPORT_FRAME_COLUMNS":
            return report_frame_columns()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class ProductSelector:
    """Which reports belong to the product: drug keys or device product codes, normalized
    the way the ETL keyed the store (`cerflow.store.keys`), optionally in a date window."""

    kind: Kind
    product_keys: tuple[str, ...] = ()
    product_codes: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    query: str = ""  # what the user typed, for messages

    @classmethod
    def drug(cls, name: str) -> ProductSelector:
        key = drug_key(name)
        if not key:
            raise ValueError(f"drug name {name!r} has no usable ingredient after normalization")
        return cls("drug", product_keys=(key,), query=name)

    @classmethod
    def device(cls, codes: str | Sequence[str]) -> ProductSelector:
        """One code, a comma-separated list or a sequence of codes."""
        raw = [codes] if isinstance(codes, str) else list(codes)
        keys = tuple(
            sorted({c for part in raw for c in (device_code(p) for p in part.split(",")) if c})
        )
        if not keys:
            raise ValueError(f"device product code {codes!r} is empty")
        return cls("device", product_codes=keys, query=",".join(raw))

    @property
    def keys(self) -> tuple[str, ...]:
        """The stored labels of the product: drug keys or device product codes."""
        return self.product_keys if self.kind == "drug" else self.product_codes

    def product_condition(self) -> Any:
        if self.kind == "drug":
            return and_(
                ReportProduct.product_key.in_(self.product_keys),
                ReportProduct.role.in_(DRUG_ROLES),
            )
        return ReportProduct.product_code.in_(self.product_codes)


def _window(stmt: S, since: dt.date | None, until: dt.date | None) -> S:
    if since is not None:
        stmt = stmt.where(Report.received_date >= since)
    if until is not None:
        stmt = stmt.where(Report.received_date <= until)
    return stmt


def product_report_ids(sel: ProductSelector) -> Select[Any]:
    """Sub-select of the ids of the product's reports (inside the date window)."""
    stmt = (
        select(ReportProduct.report_id)
        .join(Report, Report.id == ReportProduct.report_id)
        .where(Report.kind == sel.kind)
        .where(sel.product_condition())
    )
    return _window(stmt, sel.since, sel.until).distinct()


def _frame(rows: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    import polars as pl

    if not rows:
        return pl.DataFrame(schema=schema)
    if type(rows[0]) is tuple:  # plain DB-API rows: Polars reads them natively, fastest
        return pl.DataFrame(rows, schema=schema, orient="row")
    # SQLAlchemy rows: column-wise construction, several times faster than row by row.
    columns = list(zip(*rows, strict=True))
    return pl.DataFrame(
        {
            name: pl.Series(name, col, dtype=dtype)
            for (name, dtype), col in zip(schema.items(), columns, strict=True)
        }
    )


BACKGROUND_BATCH_ROWS = 1_000_000


def _fetch_frame(
    conn: Connection, stmt: Select[*tuple[Any, ...]], schema: dict[str, Any]
) -> pl.DataFrame:
    """A whole-store read as one frame, built batch by batch.

    On a full-history store the background is ~10^8 rows: as Python tuples (~150 bytes
    each with their int and str) `fetchall` needed more than the machine's 24 GB and the
    report process was killed (benchmarks/README.md, report.py on the 24M-report store).
    A server-side cursor hands over `BACKGROUND_BATCH_ROWS` rows at a time and each batch
    becomes Polars columns at once, so the Python objects alive are one batch's.
    """
    import polars as pl

    if conn.dialect.name != "postgresql":
        return _frame(_fetch_raw(conn, stmt), schema)
    frames: list[pl.DataFrame] = []
    driver = conn.connection.driver_connection
    with driver.cursor(name="cerflow_background") as cur:  # type: ignore[union-attr]
        cur.itersize = BACKGROUND_BATCH_ROWS
        cur.execute(*_raw_statement(conn, stmt))
        while rows := cur.fetchmany(BACKGROUND_BATCH_ROWS):
            frames.append(_frame(rows, schema))
            del rows
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, rechunk=True)


def _raw_statement(conn: Connection, stmt: Select[*tuple[Any, ...]]) -> tuple[str, Any]:
    """The SQL text and arguments the DB-API driver itself takes for `stmt`."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = dict(compiled.params)
    if conn.dialect.name == "sqlite":  # the raw driver gets ISO text, as SQLAlchemy's Date does
        params = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()}
    args: Any = params
    if compiled.positional and compiled.positiontup is not None:
        args = tuple(params[k] for k in compiled.positiontup)
    return str(compiled), args


def _fetch_raw(conn: Connection, stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows straight from the DB-API cursor: for the 10^5-row background reads, SQLAlchemy's
    per-row Result processing costs as much as the query. Only for statements whose output
    columns need no type conversion (ids and text)."""
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(*_raw_statement(conn, stmt))
        return list(cur.fetchall())
    finally:
        cur.close()


def product_reports(conn: Connection, sel: ProductSelector) -> pl.DataFrame:
    """One row per report of the product (columns: `REPORT_FRAME_COLUMNS`)."""
    columns = report_frame_columns()
    cols = [getattr(Report, "id" if c == "report_id" else c) for c in columns]
    stmt = select(*cols).where(Report.id.in_(product_report_ids(sel))).order_by(Report.id)
    if conn.dialect.name == "postgresql":  # psycopg already returns date/bool/float values
        return _frame(_fetch_raw(conn, stmt), columns)
    return _frame(conn.execute(stmt).all(), columns)  # SQLite: text dates


def product_events(
    conn: Connection, sel: ProductSelector, report_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """(report_id, term, term_raw, term_type) of the product's reports.

    `report_ids`: the ids `product_reports` just read for `sel` in the same snapshot. On
    PostgreSQL they are sent as one array instead of running the product's id sub-select
    again, which on a 10M-report store cost 50,000 primary-key lookups (about 150 ms of
    server time for a 50,000-report product; benchmarks/README.md, report.py). SQLite
    keeps the sub-select (its statements take at most 32,766 parameters).
    """
    import polars as pl

    cols = (ReportEvent.report_id, ReportEvent.term, ReportEvent.term_raw, ReportEvent.term_type)
    if report_ids is not None and conn.dialect.name == "postgresql":
        ids = bindparam("report_ids", list(report_ids), type_=ARRAY(BigInteger))
        stmt = select(*cols).where(ReportEvent.report_id == any_(ids))
    else:
        stmt = select(*cols).where(ReportEvent.report_id.in_(product_report_ids(sel)))
    schema = {
        "report_id": pl.Int64(),
        "term": pl.Utf8(),
        "term_raw": pl.Utf8(),
        "term_type": pl.Utf8(),
    }
    return _frame(_fetch_raw(conn, stmt), schema)


def product_rows(conn: Connection, sel: ProductSelector) -> pl.DataFrame:
    """The product rows themselves: names, brands, manufacturers, codes as reported."""
    import polars as pl

    stmt = (
        select(
            ReportProduct.report_id,
            ReportProduct.product_key,
            ReportProduct.raw_name,
            ReportProduct.brand_name,
            ReportProduct.manufacturer,
            ReportProduct.product_code,
            ReportProduct.udi_di,
        )
        .join(Report, Report.id == ReportProduct.report_id)
        .where(Report.kind == sel.kind)
        .where(sel.product_condition())
    )
    schema = {
        "report_id": pl.Int64(),
        "product_key": pl.Utf8(),
        "raw_name": pl.Utf8(),
        "brand_name": pl.Utf8(),
        "manufacturer": pl.Utf8(),
        "product_code": pl.Utf8(),
        "udi_di": pl.Utf8(),
    }
    return _frame(_fetch_raw(conn, _window(stmt, sel.since, sel.until)), schema)


def all_products(
    conn: Connection,
    *,
    kind: Kind,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pl.DataFrame:
    """Whole-store (report_id, product) of one kind, distinct: drug keys (suspect or
    interacting role) or device product codes -- the background of all-pairs signals."""
    import polars as pl

    label: Any
    if kind == "drug":
        label = ReportProduct.product_key
        cond = ReportProduct.role.in_(DRUG_ROLES)
    else:
        label = ReportProduct.product_code
        cond = ReportProduct.product_code.is_not(None)
    stmt = (
        select(ReportProduct.report_id, label)
        .join(Report, Report.id == ReportProduct.report_id)
        .where(Report.kind == kind)
        .where(cond)
    )
    return _fetch_frame(
        conn,
        _window(stmt, since, until),
        {"report_id": pl.Int64(), "product": pl.Utf8()},
    ).unique()


def all_events(
    conn: Connection,
    *,
    kind: Kind,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pl.DataFrame:
    """Whole-store (report_id, event) of one kind, distinct."""
    import polars as pl

    stmt = (
        select(ReportEvent.report_id, ReportEvent.term)
        .join(Report, Report.id == ReportEvent.report_id)
        .where(Report.kind == kind)
    )
    return _fetch_frame(
        conn,
        _window(stmt, since, until),
        {"report_id": pl.Int64(), "event": pl.Utf8()},
    ).unique()


def background(
    conn: Connection, kind: Kind, since: dt.date | None, until: dt.date | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every report of the same kind as (report_id, product) and (report_id, event) frames:
    the database the product is compared with in disproportionality."""
    products = all_products(conn, kind=kind, since=since, until=until)
    return products, all_events(conn, kind=kind, since=since, until=until)


def kind_summary(
    conn: Connection, kind: Kind, since: dt.date | None, until: dt.date | None
) -> tuple[int, dt.date | None]:
    """Reports of this kind in the window and the latest received date (the data cut-off)."""
    stmt = _window(
        select(func.count(Report.id), func.max(Report.received_date)).where(Report.kind == kind),
        since,
        until,
    )
    count, latest = conn.execute(stmt).one()
    if isinstance(latest, str):  # SQLite aggregate over a Date column comes back as text
        latest = dt.date.fromisoformat(latest)
    return int(count or 0), latest


def snapshot_ids_for_kind(
    conn: Connection, kind: Kind, since: dt.date | None, until: dt.date | None
) -> dict[int, int]:
    """snapshot id -> number of reports of this kind (in the window) last written by it."""
    stmt = _window(
        select(Report.snapshot_id, func.count(Report.id))
        .where(Report.kind == kind)
        .where(Report.snapshot_id.is_not(None))
        .group_by(Report.snapshot_id),
        since,
        until,
    )
    return {int(sid): int(n) for sid, n in conn.execute(stmt).all() if sid is not None}


@dataclass(frozen=True, slots=True)
class KindTotals:
    """The whole-store figures of one kind and window that a product's report quotes: the
    data cut-off (latest received date) and, per source snapshot, the reports it last
    wrote. Both scan every report of the kind -- millions on a full-history store, where
    they cost more than all of the product's own reads -- and both are functions of the
    store version (every load writes a snapshot row in its transaction), so the report
    layer may keep them per version (`product_data.TotalsCache`)."""

    cutoff: dt.date | None
    in_store: dict[int, int]


def kind_totals(
    conn: Connection, kind: Kind, since: dt.date | None, until: dt.date | None
) -> KindTotals:
    """`kind_summary`'s cut-off and `snapshot_ids_for_kind`, as one value to cache."""
    _, cutoff = kind_summary(conn, kind, since, until)
    in_store = snapshot_ids_for_kind(conn, kind, since, until)
    return KindTotals(cutoff, dict(sorted(in_store.items())))  # one order, read or cached


@dataclass(frozen=True, slots=True)
class StoreVersion:
    """What changes whenever data land: every load writes a source snapshot row first.

    The count, last id, its checksum and its retrieval time together also tell apart two
    databases (or one truncated and refilled) that happen to reuse the same ids.
    """

    snapshots: int
    last_id: int | None
    last_sha256: str | None
    last_retrieved_at: str | None


def store_version(conn: Connection) -> StoreVersion:
    """The data version of the store (two index-only reads of `source_snapshots`)."""
    t = SourceSnapshot.__table__
    count = int(conn.execute(select(func.count()).select_from(t)).scalar_one() or 0)
    last = conn.execute(
        select(t.c.id, t.c.sha256, t.c.retrieved_at).order_by(t.c.id.desc()).limit(1)
    ).first()
    if last is None:
        return StoreVersion(count, None, None, None)
    retrieved = last.retrieved_at
    return StoreVersion(
        count,
        int(last.id),
        str(last.sha256),
        retrieved.isoformat() if isinstance(retrieved, dt.datetime) else str(retrieved),
    )


def snapshot_rows(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Snapshot rows as plain dicts (a Connection returns rows, not ORM objects)."""
    if not ids:
        return []
    t = SourceSnapshot.__table__
    stmt = select(t).where(t.c.id.in_(list(ids))).order_by(t.c.retrieved_at, t.c.id)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def recalls_for(conn: Connection, sel: ProductSelector) -> list[dict[str, Any]]:
    """Recalls and enforcement reports naming the product's keys or codes.

    Recalls are few (thousands), and their keys/codes are JSON lists that SQLite and
    PostgreSQL query differently, so the match is done here on the rows of that kind.
    """
    t = Recall.__table__
    rows = conn.execute(select(t).where(t.c.product_type == sel.kind)).all()
    wanted = set(sel.product_keys if sel.kind == "drug" else sel.product_codes)
    field = "product_keys" if sel.kind == "drug" else "product_codes"
    out = []
    for r in rows:
        m = dict(r._mapping)
        if wanted & {str(v) for v in (m.get(field) or [])}:
            out.append(m)
    out.sort(key=lambda m: (m["report_date"] or dt.date.min, m["recall_number"]), reverse=True)
    return out


def devices_for(
    conn: Connection,
    codes: Sequence[str],
    names: Sequence[str],
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """EUDAMED/GUDID devices linked to the product, each with ``matched_by`` (the rule).

    A record matches, in this order: its UDI-DI or Basic UDI-DI is one of `udi_dis` (given
    by the user, or named in the product's reports); its manufacturer SRN is one of `srns`;
    one of its FDA product codes is one of `codes`; its trade name equals one of `names`
    (brand names of the reports, case-insensitive).
    """
    t = Device.__table__
    wanted_codes = {c.upper() for c in codes}
    wanted_names = {n.casefold() for n in names if n}
    wanted_udi = {u.strip().upper() for u in udi_dis if u and u.strip()}
    wanted_srn = {s.strip().upper() for s in srns if s and s.strip()}
    out = []
    for r in conn.execute(select(t).order_by(t.c.id)).all():
        m = dict(r._mapping)
        dev_codes = {str(c).upper() for c in (m.get("product_codes") or [])}
        trade = (m.get("trade_name") or "").casefold()
        udi = {str(m.get(k) or "").upper() for k in ("udi_di", "basic_udi_di")} - {""}
        if udi & wanted_udi:
            m["matched_by"] = "UDI-DI"
        elif str(m.get("manufacturer_srn") or "").upper() in wanted_srn:
            m["matched_by"] = "SRN"
        elif dev_codes & wanted_codes:
            m["matched_by"] = "FDA product code"
        elif trade and trade in wanted_names:
            m["matched_by"] = "trade name"
        else:
            continue
        out.append(m)
    return out


def similar_products(conn: Connection, kind: Kind, text: str, limit: int = 5) -> list[str]:
    """Stored product keys or codes containing `text`, most reported first (for errors)."""
    col = ReportProduct.product_key if kind == "drug" else ReportProduct.product_code
    needle = f"%{text.strip().upper()}%"
    stmt = select(col, func.count()).where(func.upper(col).like(needle)).group_by(col)
    return [v for v, _ in top_counted(conn, stmt, func.count(), limit)]


def count_product_reports(conn: Connection, sel: ProductSelector) -> int:
    stmt = select(func.count()).select_from(product_report_ids(sel).subquery())
    return int(conn.execute(stmt).scalar_one())


def device_manufacturer_products(conn: Connection, codes: Sequence[str]) -> pl.DataFrame:
    """(report_id, product) for device reports with one of `codes`, the product being the
    manufacturer (else the brand, else ``unknown``): the peer set of a device is the other
    manufacturers of the same product code."""
    import polars as pl

    label = func.coalesce(
        func.upper(ReportProduct.manufacturer), func.upper(ReportProduct.brand_name), "UNKNOWN"
    )
    stmt = (
        select(ReportProduct.report_id, label.label("product"))
        .where(ReportProduct.product_code.in_(list(codes)))
        .distinct()
    )
    return _frame(conn.execute(stmt).all(), {"report_id": pl.Int64(), "product": pl.Utf8()})


def events_for_reports(conn: Connection, report_ids: Select[Any]) -> pl.DataFrame:
    """(report_id, event) for the reports selected by `report_ids` (a SELECT of ids)."""
    import polars as pl

    stmt = (
        select(ReportEvent.report_id, ReportEvent.term.label("event"))
        .where(ReportEvent.report_id.in_(report_ids))
        .distinct()
    )
    return _frame(conn.execute(stmt).all(), {"report_id": pl.Int64(), "event": pl.Utf8()})


def search_drugs(conn: Connection, text: str, *, limit: int = 10) -> list[tuple[str, int]]:
    """Drug keys containing the normalized `text` (or its raw name), with report counts."""
    key = drug_key(text) or text.upper()
    pattern = f"%{key}%"
    n = func.count(func.distinct(ReportProduct.report_id))
    stmt = (
        select(ReportProduct.product_key, n)
        .where(
            ReportProduct.role.in_(list(DRUG_ROLES)),
            ReportProduct.product_key.like(pattern)
            | func.upper(ReportProduct.raw_name).like(pattern),
        )
        .group_by(ReportProduct.product_key)
    )
    return top_counted(conn, stmt, n, limit)


def search_device_codes(conn: Connection, text: str, *, limit: int = 10) -> list[tuple[str, int]]:
    """Device product codes starting with `text`, or whose brand/manufacturer contains it."""
    code = (device_code(text) or "").strip()
    pattern = f"%{text.upper()}%"
    n = func.count(func.distinct(ReportProduct.report_id))
    stmt = (
        select(ReportProduct.product_code, n)
        .where(
            ReportProduct.product_code.is_not(None),
            ReportProduct.product_code.like(f"{code}%")
            | func.upper(ReportProduct.brand_name).like(pattern)
            | func.upper(ReportProduct.manufacturer).like(pattern),
        )
        .group_by(ReportProduct.product_code)
    )
    return top_counted(conn, stmt, n, limit)


# --- a product's summary, for the API's product page ------------------------------------


@dataclass(frozen=True, slots=True)
class ProductTotals:
    """Report counts of a product (unique reports)."""

    reports: int
    serious: int
    deaths: int
    year_only: int
    undated: int


def latest_snapshot_id(conn: Connection) -> int:
    """The newest source snapshot id (0 when empty): it changes with every import."""
    return int(conn.execute(select(func.coalesce(func.max(SourceSnapshot.id), 0))).scalar_one())


def product_totals(conn: Connection, sel: ProductSelector) -> ProductTotals:
    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = conn.execute(
        select(
            func.count(),
            n(Report.serious.is_(True)),
            n(Report.death.is_(True)),
            n(Report.received_precision == "Y"),
            n(Report.received_date.is_(None)),
        ).where(Report.id.in_(product_report_ids(sel)))
    ).one()
    return ProductTotals(*(int(v) for v in row))


def product_counts_by(
    conn: Connection, sel: ProductSelector, column: Literal["source", "event_type"]
) -> dict[str, int]:
    """Unique reports of the product per value of a report column (nulls left out)."""
    col = getattr(Report, column)
    stmt = (
        select(col, func.count())
        .where(Report.id.in_(product_report_ids(sel)), col.is_not(None))
        .group_by(col)
    )
    return {str(k): int(v) for k, v in conn.execute(stmt).all()}


def product_monthly_counts(conn: Connection, sel: ProductSelector) -> dict[str, int]:
    """'YYYY-MM' -> reports of the product with a month-precise received date."""
    if conn.dialect.name == "postgresql":
        month: Any = func.to_char(Report.received_date, "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", Report.received_date)
    stmt = (
        select(month, func.count())
        .where(Report.id.in_(product_report_ids(sel)), Report.received_precision.in_(("M", "D")))
        .group_by(month)
        .order_by(month)
    )
    return {str(m): int(n) for m, n in conn.execute(stmt).all() if m}


def product_top_terms(conn: Connection, sel: ProductSelector, limit: int) -> list[tuple[str, int]]:
    """The product's most reported event terms with their unique report counts (ties in
    display order, `collation.top_counted`)."""
    n = func.count(func.distinct(ReportEvent.report_id))
    stmt = (
        select(ReportEvent.term, n)
        .where(ReportEvent.report_id.in_(product_report_ids(sel)))
        .group_by(ReportEvent.term)
    )
    return top_counted(conn, stmt, n, limit)


def term_report_counts(conn: Connection, kind: Kind, terms: Sequence[str]) -> dict[str, int]:
    """Unique reports of `kind` (whole store) naming each of `terms`."""
    if not terms:
        return {}
    stmt = (
        select(ReportEvent.term, func.count(func.distinct(ReportEvent.report_id)))
        .join(Report, Report.id == ReportEvent.report_id)
        .where(Report.kind == kind, ReportEvent.term.in_(list(terms)))
        .group_by(ReportEvent.term)
    )
    return {str(t): int(n) for t, n in conn.execute(stmt).all()}


def product_name_counts(
    conn: Connection, sel: ProductSelector, what: Literal["name", "manufacturer"], limit: int
) -> list[tuple[str, int]]:
    """The product's names (brand, else verbatim) or manufacturers as reported, most
    frequent first (counted over product rows; ties in display order)."""
    col: Any = (
        func.coalesce(ReportProduct.brand_name, ReportProduct.raw_name)
        if what == "name"
        else ReportProduct.manufacturer
    )
    stmt = (
        select(col, func.count())
        .join(Report, Report.id == ReportProduct.report_id)
        .where(Report.kind == sel.kind, sel.product_condition(), col.is_not(None))
        .group_by(col)
    )
    return top_counted(conn, stmt, func.count(), limit)


def product_freshness(conn: Connection, sel: ProductSelector) -> list[tuple[str, dt.datetime, int]]:
    """Per source snapshot kind: when the product's newest stored report was fetched, and how
    many of its reports that source holds (the product page's "data freshness")."""
    stmt = (
        select(SourceSnapshot.source, func.max(SourceSnapshot.retrieved_at), func.count())
        .select_from(Report)
        .join(SourceSnapshot, SourceSnapshot.id == Report.snapshot_id)
        .where(Report.id.in_(product_report_ids(sel)))
        .group_by(SourceSnapshot.source)
    )
    rows = [(str(s), t, int(n)) for s, t, n in conn.execute(stmt).all()]
    return sorted(rows, key=lambda r: display_key(r[0]))


def latest_signal_reviews(conn: Connection, kind: Kind, ref: str) -> dict[str, dict[str, Any]]:
    """The newest review decision per event of a product (key: casefolded event term)."""
    stmt = (
        select(
            SignalReview.event_key,
            SignalReview.event,
            SignalReview.decision,
            SignalReview.reason,
            SignalReview.user_email,
            SignalReview.created_at,
        )
        .where(SignalReview.product_kind == kind, SignalReview.product_ref == ref)
        .order_by(SignalReview.id)
    )
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(stmt).mappings():
        out[str(row["event_key"])] = dict(row)  # later rows replace earlier ones
    return out
