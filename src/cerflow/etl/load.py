"""Idempotent upserts of canonical records into the store.

    load_reports(engine, reports, provenance, *, source_stats=None, progress=None) -> LoadStats
    load_recalls(engine, recalls, provenance, *, source_stats=None, progress=None) -> LoadStats
    load_devices(engine, devices, provenance, *, source_stats=None, progress=None) -> LoadStats

Why it looks like this:
- One transaction per call. Readers raise `SourceFormatError` in the middle of a file; the
  whole import then rolls back, so a malformed file never leaves half a quarter behind.
- Reports are keyed by (source, source_key). An incoming record replaces the stored one only
  if its `source_version` is not older and its content hash differs; the same file imported
  twice therefore changes nothing, and an old quarter re-imported after a newer one cannot
  overwrite a later case version.
- A FAERS quarter is ~400k reports and ~3M child rows. On PostgreSQL the rows go in with
  COPY and ids come from the sequence in one round trip; on SQLite ids are allocated after
  the snapshot insert has taken the database's write lock, then rows go in with executemany.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update

from cerflow.etl.records import (
    SERIOUSNESS_FLAGS,
    CanonicalDevice,
    CanonicalProduct,
    CanonicalRecall,
    CanonicalReport,
)
from cerflow.sources.base import Provenance
from cerflow.store.models import Device, Recall, Report, ReportEvent, ReportProduct, SourceSnapshot

T = TypeVar("T")
Progress = Callable[[int], None]

REPORT_COLUMNS = (
    "id",
    "source",
    "source_key",
    "source_version",
    "source_record_id",
    "kind",
    "received_date",
    "received_precision",
    "event_date",
    "event_precision",
    "country",
    "sex",
    "age_years",
    "serious",
    *SERIOUSNESS_FLAGS,
    "event_type",
    "reporter_type",
    "narrative",
    "content_hash",
    "snapshot_id",
)
PRODUCT_COLUMNS = (
    "report_id",
    "seq",
    "role",
    "product_key",
    "raw_name",
    "product_code",
    "brand_name",
    "manufacturer",
    "route",
    "udi_di",
)
EVENT_COLUMNS = ("report_id", "term", "term_raw", "term_type")


@dataclass(slots=True)
class LoadStats:
    """What an import did; shown in the CLI summary and kept on the snapshot row."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0  # stored reports removed because the source lists them as deleted
    snapshot_id: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "deleted": self.deleted,
            "reject_reasons": dict(self.reject_reasons),
        }


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _insert_snapshot(
    conn: Connection, provenance: Provenance, source_stats: dict[str, Any] | None
) -> int:
    result = conn.execute(
        insert(SourceSnapshot).returning(SourceSnapshot.id),
        {
            "source": provenance.source,
            "location": provenance.location,
            "query": provenance.query,
            "retrieved_at": provenance.retrieved_at,
            "record_count": 0,
            "sha256": provenance.sha256,
            "is_generated": provenance.is_generated,
            "stats": {"source": source_stats or {}},
        },
    )
    return int(result.scalar_one())


def _finish_snapshot(
    conn: Connection, stats: LoadStats, source_stats: dict[str, Any] | None
) -> None:
    values: dict[str, Any] = {
        "record_count": stats.read,
        "stats": {"source": source_stats or {}, "load": stats.as_dict()},
    }
    # Paged API imports only know their checksum (over all pages) once the last page is in.
    pages_sha256 = (source_stats or {}).get("pages_sha256")
    if pages_sha256:
        current = conn.execute(
            select(SourceSnapshot.sha256).where(SourceSnapshot.id == stats.snapshot_id)
        ).scalar_one()
        if not current:
            values["sha256"] = str(pages_sha256)
    conn.execute(
        update(SourceSnapshot).where(SourceSnapshot.id == stats.snapshot_id).values(**values)
    )


def insert_snapshot(
    conn: Connection, provenance: Provenance, source_stats: dict[str, Any] | None
) -> int:
    """The snapshot row every import starts with (public for the columnar loader)."""
    return _insert_snapshot(conn, provenance, source_stats)


def finish_snapshot(
    conn: Connection, stats: LoadStats, source_stats: dict[str, Any] | None
) -> None:
    """Record the final counts on the snapshot row (public for the columnar loader)."""
    _finish_snapshot(conn, stats, source_stats)


class _IdAllocator:
    """Hands out report ids before the rows exist, so children can be written in bulk."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self._next: int | None = None

    def take(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.postgres:
            rows = self.conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('reports', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": n},
            )
            return [int(r[0]) for r in rows]
        if self._next is None:
            # Safe: the snapshot insert earlier in this transaction holds SQLite's write lock.
            current = self.conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM reports"))
            self._next = int(current.scalar_one()) + 1
        start = self._next
        self._next += n
        return list(range(start, start + n))


def report_values(rid: int, rep: CanonicalReport, digest: str) -> tuple[Any, ...]:
    """A report's stored values in `REPORT_COLUMNS` order, up to `content_hash` (the snapshot
    id is the loader's); the columnar loader's frames use the same tuple."""
    r, e = rep.received, rep.event
    return (
        rid,
        rep.source,
        rep.source_key,
        rep.source_version,
        rep.source_record_id,
        rep.kind,
        r.value if r else None,
        r.precision if r else None,
        e.value if e else None,
        e.precision if e else None,
        rep.country,
        rep.sex,
        rep.age_years,
        rep.serious,
        *(getattr(rep, f) for f in SERIOUSNESS_FLAGS),
        rep.event_type,
        rep.reporter_type,
        rep.narrative,
        digest,
    )


def _report_row(rid: int, rep: CanonicalReport, digest: str, snapshot_id: int) -> tuple[Any, ...]:
    return (*report_values(rid, rep, digest), snapshot_id)


def product_row(rid: int, p: CanonicalProduct) -> tuple[Any, ...]:
    """A product's stored values in `PRODUCT_COLUMNS` order."""
    return (
        rid,
        p.seq,
        p.role,
        p.product_key,
        p.raw_name,
        p.product_code,
        p.brand_name,
        p.manufacturer,
        p.route,
        p.udi_di,
    )


def _child_rows(
    rid: int, rep: CanonicalReport
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    products = [product_row(rid, p) for p in rep.products]
    seen: set[tuple[str, str]] = set()
    events = []
    for e in rep.events:
        if (e.term, e.term_type) in seen:  # a PT coded twice on one report counts once
            continue
        seen.add((e.term, e.term_type))
        events.append((rid, e.term, e.term_raw, e.term_type))
    return products, events


def _bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        cols = ", ".join(columns)
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    raw = conn.connection.driver_connection
    cur = raw.cursor()  # type: ignore[union-attr]
    cur.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
        [tuple(_sqlite_value(v) for v in row) for row in rows],
    )
    cur.close()


def _sqlite_value(value: Any) -> Any:
    # The raw sqlite3 driver would use deprecated adapters for dates; store ISO text as
    # SQLAlchemy's Date type does.
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _validate(rep: CanonicalReport) -> str | None:
    if not rep.source_key:
        return "missing source key"
    if not rep.products:
        return "no product"
    return None


def load_reports(
    engine: Engine,
    reports: Iterable[CanonicalReport],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
    batch_size: int = 5000,
) -> LoadStats:
    """Upsert reports with their products and events; see the module docstring."""
    stats = LoadStats()
    reasons: Counter[str] = Counter()
    with engine.begin() as conn:
        stats.snapshot_id = _insert_snapshot(conn, provenance, source_stats)
        ids = _IdAllocator(conn)
        for batch in _batches(reports, batch_size):
            stats.read += len(batch)
            # Within a batch the latest version of a key wins (later record on ties).
            latest: dict[tuple[str, str], CanonicalReport] = {}
            for rep in batch:
                reason = _validate(rep)
                if reason:
                    reasons[reason] += 1
                    continue
                key = (rep.source, rep.source_key)
                prev = latest.get(key)
                if prev is not None:
                    stats.unchanged += 1  # superseded inside this import
                    if prev.source_version > rep.source_version:
                        continue
                latest[key] = rep
            _upsert_report_batch(conn, list(latest.values()), ids, stats)
            if progress:
                progress(len(batch))
        stats.rejected = sum(reasons.values())
        stats.reject_reasons = dict(reasons)
        _finish_snapshot(conn, stats, source_stats)
    return stats


def _upsert_report_batch(
    conn: Connection, batch: list[CanonicalReport], ids: _IdAllocator, stats: LoadStats
) -> None:
    if not batch:
        return
    existing: dict[tuple[str, str], tuple[int, int, str]] = {}
    by_source: dict[str, list[str]] = {}
    for rep in batch:
        by_source.setdefault(rep.source, []).append(rep.source_key)
    for source, keys in by_source.items():
        for chunk in _batches(keys, 900):
            rows = conn.execute(
                select(Report.id, Report.source_key, Report.source_version, Report.content_hash)
                .where(Report.source == source)
                .where(Report.source_key.in_(chunk))
            )
            for rid, key, version, digest in rows:
                existing[(source, key)] = (int(rid), int(version), str(digest))

    new: list[tuple[CanonicalReport, str]] = []
    changed: list[tuple[int, CanonicalReport, str]] = []
    for rep in batch:
        digest = rep.content_hash()
        found = existing.get((rep.source, rep.source_key))
        if found is None:
            new.append((rep, digest))
        elif found[1] > rep.source_version or found[2] == digest:
            stats.unchanged += 1
        else:
            changed.append((found[0], rep, digest))

    report_rows: list[tuple[Any, ...]] = []
    product_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    for rid, (rep, digest) in zip(ids.take(len(new)), new, strict=True):
        report_rows.append(_report_row(rid, rep, digest, stats.snapshot_id))
        p, e = _child_rows(rid, rep)
        product_rows.extend(p)
        event_rows.extend(e)

    if changed:
        changed_ids = [rid for rid, _, _ in changed]
        for id_chunk in _batches(changed_ids, 900):
            conn.execute(delete(ReportProduct).where(ReportProduct.report_id.in_(id_chunk)))
            conn.execute(delete(ReportEvent).where(ReportEvent.report_id.in_(id_chunk)))
        params = []
        for rid, rep, digest in changed:
            row = dict(
                zip(REPORT_COLUMNS, _report_row(rid, rep, digest, stats.snapshot_id), strict=True)
            )
            row["b_id"] = row.pop("id")
            params.append(row)
            p, e = _child_rows(rid, rep)
            product_rows.extend(p)
            event_rows.extend(e)
        stmt = (
            update(Report)
            .where(Report.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in REPORT_COLUMNS if c != "id"})
        )
        conn.execute(stmt, params)

    _bulk_insert(conn, "reports", REPORT_COLUMNS, report_rows)
    _bulk_insert(conn, "report_products", PRODUCT_COLUMNS, product_rows)
    _bulk_insert(conn, "report_events", EVENT_COLUMNS, event_rows)
    stats.inserted += len(new)
    stats.updated += len(changed)


def _upsert_simple(
    engine: Engine,
    records: Iterable[Any],
    provenance: Provenance,
    *,
    model: type[Recall] | type[Device],
    key_fields: tuple[str, str],
    to_row: Callable[[Any], dict[str, Any]],
    source_stats: dict[str, Any] | None,
    progress: Progress | None,
) -> LoadStats:
    """Recalls and devices are few (thousands); a plain keyed upsert is fast enough."""
    stats = LoadStats()
    reasons: Counter[str] = Counter()
    k1, k2 = key_fields
    col1, col2 = getattr(model, k1), getattr(model, k2)
    with engine.begin() as conn:
        stats.snapshot_id = _insert_snapshot(conn, provenance, source_stats)
        for batch in _batches(records, 500):
            stats.read += len(batch)
            latest: dict[tuple[str, str], Any] = {}
            for rec in batch:
                key = (getattr(rec, k1), getattr(rec, k2))
                if not key[1]:
                    reasons[f"missing {k2}"] += 1
                    continue
                if key in latest:
                    stats.unchanged += 1
                latest[key] = rec
            existing: dict[tuple[str, str], tuple[int, str]] = {}
            for a, b in latest:
                row = conn.execute(
                    select(model.id, model.content_hash).where(col1 == a).where(col2 == b)
                ).first()
                if row is not None:
                    existing[(a, b)] = (int(row[0]), str(row[1]))
            for key, rec in latest.items():
                values = to_row(rec)
                values["content_hash"] = rec.content_hash()
                values["snapshot_id"] = stats.snapshot_id
                found = existing.get(key)
                if found is None:
                    conn.execute(insert(model).values(**values))
                    stats.inserted += 1
                elif found[1] == values["content_hash"]:
                    stats.unchanged += 1
                else:
                    conn.execute(update(model).where(model.id == found[0]).values(**values))
                    stats.updated += 1
            if progress:
                progress(len(batch))
        stats.rejected = sum(reasons.values())
        stats.reject_reasons = dict(reasons)
        _finish_snapshot(conn, stats, source_stats)
    return stats


def _recall_row(rec: CanonicalRecall) -> dict[str, Any]:
    return {
        "source": rec.source,
        "recall_number": rec.recall_number,
        "product_type": rec.product_type,
        "classification": rec.classification,
        "reason": rec.reason,
        "status": rec.status,
        "firm": rec.firm,
        "product_description": rec.product_description,
        "product_codes": list(rec.product_codes),
        "product_keys": list(rec.product_keys),
        "report_date": rec.report_date,
        "initiation_date": rec.initiation_date,
        "classification_date": rec.classification_date,
        "termination_date": rec.termination_date,
        "distribution": rec.distribution,
        "country": rec.country,
    }


def _device_row(dev: CanonicalDevice) -> dict[str, Any]:
    return {
        "source": dev.source,
        "source_uuid": dev.source_uuid,
        "udi_di": dev.udi_di,
        "basic_udi_di": dev.basic_udi_di,
        "trade_name": dev.trade_name,
        "model": dev.model,
        "risk_class": dev.risk_class,
        "manufacturer_name": dev.manufacturer_name,
        "manufacturer_srn": dev.manufacturer_srn,
        "status": dev.status,
        "product_codes": list(dev.product_codes),
        "raw": dict(dev.raw),
    }


def load_recalls(
    engine: Engine,
    recalls: Iterable[CanonicalRecall],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """Upsert recalls keyed by (source, recall_number)."""
    return _upsert_simple(
        engine,
        recalls,
        provenance,
        model=Recall,
        key_fields=("source", "recall_number"),
        to_row=_recall_row,
        source_stats=source_stats,
        progress=progress,
    )


def load_devices(
    engine: Engine,
    devices: Iterable[CanonicalDevice],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """Upsert devices keyed by (source, source_uuid)."""
    return _upsert_simple(
        engine,
        devices,
        provenance,
        model=Device,
        key_fields=("source", "source_uuid"),
        to_row=_device_row,
        source_stats=source_stats,
        progress=progress,
    )
