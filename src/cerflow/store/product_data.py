"""Every store read a CER needs for one product, in one read transaction.

    data = read_product(engine, drug="atorvastatin")            # or device_codes=["LZG"]
    if not data.found: ...                                      # data.similar names near keys
    products, events, version = read_background(engine, "drug", since, until)

Why one step: a report's numbers must be a function of one state of the store. All reads
of `read_product` run on one connection inside one transaction -- on PostgreSQL REPEATABLE
READ READ ONLY, so every statement sees the snapshot of the first one even while a load
commits; on SQLite one deferred transaction (WAL keeps its read snapshot until it ends).
What comes back is a frozen `ProductData` of plain frames and rows: the report layer
computes from it without knowing a database exists.

The database-wide background of disproportionality is a separate read (`read_background`)
because a signal-cache hit skips it entirely; it returns the store version it saw, so the
caller knows whether it matches the snapshot of `read_product` (and may be cached).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
from sqlalchemy import Connection, Engine

from cerflow.store import product_classes as pc
from cerflow.store import product_queries as rq
from cerflow.store.keys import device_code, drug_key, srn_key, udi_di_key

MANUFACTURER_SCHEMA: dict[str, pl.DataType] = {"report_id": pl.Int64(), "product": pl.Utf8()}


@dataclass(frozen=True, slots=True)
class DrugPeerData:
    """A drug's established pharmacologic class(es) and the class peers in the store.

    `classes`: the product's EPC classes (openFDA `pharm_class_epc`, empty when the store
    holds none); `peers`: the other stored product keys of the same class(es); `products`
    and `events`: (report_id, product) and (report_id, event) of the reports naming the
    product or a peer as suspect or interacting drug, in the window.
    """

    classes: tuple[str, ...]
    peers: tuple[str, ...]
    products: pl.DataFrame
    events: pl.DataFrame


@dataclass(frozen=True, slots=True)
class ProductData:
    """What the store holds about one product, read in one snapshot.

    `reports`: one row per report (`rq.REPORT_FRAME_COLUMNS`); `events`: (report_id, term,
    term_raw, term_type); `product_rows`: the product rows as reported (names, brands,
    manufacturers, codes); `manufacturers`: (report_id, product = manufacturer) of the
    device code(s), the peer set (empty for drugs); `in_store`: snapshot id -> reports of
    this kind in the window; `recalls`, `devices`, `snapshots`: rows as dicts;
    `store_version`: the data version this snapshot saw (keys the signal cache);
    `similar`: stored keys or codes near the query, filled only when nothing was found.
    """

    kind: rq.Kind
    query: str  # as the user typed it (drug) or the codes joined by ", " (devices)
    product_keys: tuple[str, ...]
    product_codes: tuple[str, ...]
    since: dt.date | None
    until: dt.date | None
    reports: pl.DataFrame
    events: pl.DataFrame
    product_rows: pl.DataFrame
    manufacturers: pl.DataFrame
    cutoff: dt.date | None
    in_store: Mapping[int, int]
    recalls: tuple[Mapping[str, Any], ...]
    devices: tuple[Mapping[str, Any], ...]
    snapshots: tuple[Mapping[str, Any], ...]
    store_version: rq.StoreVersion | None
    similar: tuple[str, ...] = field(default=())
    udi_dis: tuple[str, ...] = field(default=())  # EUDAMED link asked for (--udi-di)
    srns: tuple[str, ...] = field(default=())  # EUDAMED link asked for (--srn)
    drug_peers: DrugPeerData | None = None  # drugs: the class peers (see `DrugPeerData`)

    @property
    def found(self) -> bool:
        return self.reports.height > 0

    @property
    def label(self) -> str:
        """The one label the product's keys or codes are analysed under."""
        return self.product_keys[0] if self.kind == "drug" else "+".join(self.product_codes)

    @property
    def members(self) -> frozenset[str]:
        """The stored product labels that make up this product (several device codes)."""
        return frozenset(self.product_keys if self.kind == "drug" else self.product_codes)


class TotalsCache(Protocol):
    """Keeps `rq.KindTotals` per key (`totals_key`: database, store version, kind, window).

    The report layer's signal cache is one; the store only asks and offers."""

    def get_totals(self, key: str) -> rq.KindTotals | None: ...

    def put_totals(self, key: str, totals: rq.KindTotals) -> None: ...


def totals_key(
    engine_url: str,
    version: rq.StoreVersion,
    kind: rq.Kind,
    since: dt.date | None,
    until: dt.date | None,
) -> str:
    """A hex digest naming the kind totals of one store version (password not included)."""
    parts = {
        "db": engine_url,
        "store": dataclasses.asdict(version),
        "kind": kind,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _kind_totals(
    conn: Connection,
    cache: TotalsCache | None,
    engine_url: str,
    version: rq.StoreVersion,
    sel: rq.ProductSelector,
) -> rq.KindTotals:
    """From `cache` when it holds this store version, else read (and offered to it)."""
    if cache is None:
        return rq.kind_totals(conn, sel.kind, sel.since, sel.until)
    key = totals_key(engine_url, version, sel.kind, sel.since, sel.until)
    totals = cache.get_totals(key)
    if totals is None:
        totals = rq.kind_totals(conn, sel.kind, sel.since, sel.until)
        cache.put_totals(key, totals)
    return totals


def selector(
    *,
    drug: str | None = None,
    device_codes: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[rq.ProductSelector, str]:
    """The normalized product (as the ETL keyed it) and the query text to print.

    Raises ValueError for contradictory arguments or a drug name with no ingredient left.
    """
    codes = sorted({c for c in (device_code(x) for x in (device_codes or [])) if c})
    if bool(drug and drug.strip()) == bool(codes):
        raise ValueError("give exactly one of a drug name or one or more device product codes")
    if since and until and since > until:
        raise ValueError(f"since {since} is after until {until}")
    if drug:
        key = drug_key(drug)
        if not key:
            raise ValueError(f"drug name {drug!r} has no usable ingredient after normalization")
        query = drug.strip()
        sel = rq.ProductSelector("drug", (key,), since=since, until=until, query=query)
        return sel, query
    query = ", ".join(codes)
    sel = rq.ProductSelector("device", (), tuple(codes), since=since, until=until, query=query)
    return sel, query


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one state of the store; nothing is written.

    PostgreSQL: REPEATABLE READ READ ONLY (one snapshot for the whole transaction), JIT
    off for it: a product's reads are index lookups, but on a full-history store the
    planner's cost estimates pass `jit_above_cost` only because the tables are big, and
    compiling cost 70-95 ms per query, more than it saved (benchmarks/README.md, report.py).
    SQLite: an explicit BEGIN, because the driver opens a transaction only before writes
    and would otherwise run each SELECT on its own; in WAL mode the read snapshot is held
    until the transaction ends. Always rolled back: there is nothing to commit.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            conn.begin()
            conn.exec_driver_sql("SET LOCAL jit = off")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def read_product(
    engine: Engine,
    *,
    drug: str | None = None,
    device_codes: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
    totals_cache: TotalsCache | None = None,
) -> ProductData:
    """All store reads of one product's CER, in one read transaction (see the module doc).

    Never raises for an unknown product: `found` is False and `similar` lists stored names
    near the query, so the caller words the error. ValueError for contradictory arguments.
    `totals_cache` spares the two whole-store scans (`rq.KindTotals`) on a store version
    already seen; the values are the same.
    """
    sel, query = selector(drug=drug, device_codes=device_codes, since=since, until=until)
    kind = sel.kind
    udi_dis = tuple(dict.fromkeys(udi_di_key(u) for u in udi_dis))
    srns = tuple(dict.fromkeys(srn_key(s) for s in srns))
    if (udi_dis or srns) and kind != "device":
        raise ValueError("--udi-di and --srn link EUDAMED device records: give --device-code")
    with read_snapshot(engine) as conn:
        reports = rq.product_reports(conn, sel)
        if reports.height == 0:
            first = sel.product_keys[0] if kind == "drug" else sel.product_codes[0]
            return _empty(sel, query, reports, tuple(rq.similar_products(conn, kind, first)))
        version = rq.store_version(conn)
        url = engine.url.render_as_string(hide_password=True)
        totals = _kind_totals(conn, totals_cache, url, version, sel)
        cutoff, in_store = totals.cutoff, totals.in_store
        events = rq.product_events(conn, sel, reports.get_column("report_id").to_list())
        prod_rows = rq.product_rows(conn, sel)
        recall_rows = rq.recalls_for(conn, sel)
        names = [n for n in prod_rows["brand_name"].drop_nulls().unique().to_list() if n]
        codes = list(sel.product_codes)
        reported_udi = [u for u in prod_rows["udi_di"].drop_nulls().unique().to_list() if u]
        device_rows = (
            rq.devices_for(conn, codes, names, [*udi_dis, *reported_udi], srns)
            if kind == "device"
            else []
        )
        makers = (
            rq.device_manufacturer_products(conn, codes)
            if kind == "device"
            else pl.DataFrame(schema=MANUFACTURER_SCHEMA)
        )
        recall_ids = {int(r["snapshot_id"]) for r in recall_rows if r.get("snapshot_id")}
        device_ids = {int(r["snapshot_id"]) for r in device_rows if r.get("snapshot_id")}
        snap_rows = rq.snapshot_rows(conn, sorted(set(in_store) | recall_ids | device_ids))
        drug_peers = _drug_peers(conn, sel) if kind == "drug" else None
    return ProductData(
        kind=kind,
        query=query,
        product_keys=sel.product_keys,
        product_codes=sel.product_codes,
        since=since,
        until=until,
        reports=reports,
        events=events,
        product_rows=prod_rows,
        manufacturers=makers,
        cutoff=cutoff,
        in_store=in_store,
        recalls=tuple(recall_rows),
        devices=tuple(device_rows),
        snapshots=tuple(snap_rows),
        store_version=version,
        udi_dis=tuple(udi_dis),
        srns=tuple(srns),
        drug_peers=drug_peers,
    )


def _drug_peers(conn: Connection, sel: rq.ProductSelector) -> DrugPeerData:
    """The product's EPC classes and the reports of it and of the class peers.

    Without a peer there is no comparison (`cerflow.report.compute` says so and reads no
    frame), so the product's reports are not read a second time: on a 50,000-report
    product that re-read was a third of the store reads of a cached report."""
    classes = pc.classes_of(conn, sel.product_keys)
    peers = [k for k in pc.products_in_classes(conn, classes) if k not in sel.product_keys]
    if not peers:
        products, events = pc.class_products(conn, [], sel.since, sel.until)
        return DrugPeerData(tuple(classes), (), products, events)
    products, events = pc.class_products(conn, [*sel.product_keys, *peers], sel.since, sel.until)
    return DrugPeerData(tuple(classes), tuple(peers), products, events)


def _empty(
    sel: rq.ProductSelector, query: str, reports: pl.DataFrame, similar: tuple[str, ...]
) -> ProductData:
    return ProductData(
        kind=sel.kind,
        query=query,
        product_keys=sel.product_keys,
        product_codes=sel.product_codes,
        since=sel.since,
        until=sel.until,
        reports=reports,
        events=pl.DataFrame(),
        product_rows=pl.DataFrame(),
        manufacturers=pl.DataFrame(schema=MANUFACTURER_SCHEMA),
        cutoff=None,
        in_store={},
        recalls=(),
        devices=(),
        snapshots=(),
        store_version=None,
        similar=similar,
    )


def read_background(
    engine: Engine, kind: rq.Kind, since: dt.date | None, until: dt.date | None
) -> tuple[pl.DataFrame, pl.DataFrame, rq.StoreVersion]:
    """Every report of `kind` in the window as (report_id, product) and (report_id, event),
    with the store version seen by the same snapshot: the background of disproportionality.
    """
    with read_snapshot(engine) as conn:
        version = rq.store_version(conn)
        products, events = rq.background(conn, kind, since, until)
    return products, events, version
