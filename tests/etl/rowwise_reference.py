"""The row-wise report loader, kept as the reference the one report write path is tested
against (`etl.load_reports` builds frames and decides with joins; this one decides report by
report, batch by batch). Not used by cerflow itself: it was the production loader before
the columnar one, and stays here so the equality tests keep an independent oracle.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, text, update

from cerflow.etl.load_common import (
    EVENT_COLUMNS,
    PRODUCT_COLUMNS,
    REPORT_COLUMNS,
    LoadStats,
    Progress,
    batches,
    finish_snapshot,
    insert_snapshot,
    product_row,
    report_values,
)
from cerflow.etl.records import CanonicalReport
from cerflow.sources.base import Provenance
from cerflow.store.models import Report, ReportEvent, ReportProduct


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


def _report_row(rid: int, rep: CanonicalReport, digest: str, snapshot_id: int) -> tuple[Any, ...]:
    return (*report_values(rid, rep, digest), snapshot_id)


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


def load_reports_rowwise(
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
        stats.snapshot_id = insert_snapshot(conn, provenance, source_stats)
        ids = _IdAllocator(conn)
        for batch in batches(reports, batch_size):
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
        finish_snapshot(conn, stats, source_stats)
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
        for chunk in batches(keys, 900):
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
        for id_chunk in batches(changed_ids, 900):
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
