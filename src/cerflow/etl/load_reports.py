"""The one write path for reports: canonical report frames (polars) -> the store.

    load_report_frames(engine, reports, products, events, provenance, *, source_stats=None,
                       progress=None, delete_keys=()) -> LoadStats
    load_reports(engine, reports, provenance, *, source_stats=None, progress=None) -> LoadStats

Every import of reports (FAERS quarters, MAUDE files, openFDA pages, the sample) ends here,
so the version/hash upsert rules are written once. `load_reports` takes canonical records
(readers that yield one report at a time), turns them into frames and calls
`load_report_frames`; the FAERS columnar reader builds the frames itself. The whole import
is a frame, so the decisions are joins and the rows go to PostgreSQL as CSV written by
polars (COPY ... FORMAT csv), to SQLite through executemany over row tuples. Tests compare
the stored tables with a row-wise reference loader (tests/etl/rowwise_reference.py).

Rules:
- one transaction; reports keyed by (source, source_key); a stored version that is newer, or
  the same content hash, leaves the row unchanged; otherwise the row is updated and its
  children rewritten; new keys are inserted; a snapshot row carries the counts;
- rejected: empty source key, or no product; a key repeated in the import keeps its latest
  version (the later row on ties), the others count as unchanged;
- `delete_keys` ((source, source_key) pairs, e.g. FDA's deleted-cases list) removes those
  stored reports and their children in the same transaction (`LoadStats.deleted`).

PostgreSQL bulk writes: the rows are written with per-row triggers off (`SET LOCAL
session_replication_role = replica`, what `pg_restore --disable-triggers` does) because the
foreign-key triggers on report_products/report_events cost one lookup and one row lock per
child row, about a third of a quarter's load. The foreign keys stay declared; instead of
the per-row checks one set-based query proves, before commit, that every parent the written
rows name exists (`_check_parents`: a count per run of consecutive ids), and a violation
rolls the whole import back
(`LoadIntegrityError`). The only parents referenced are rows this transaction inserted or
updated (updated rows stay locked until commit), so no concurrent delete can slip between.
Where the database role may not set that parameter (not a superuser, and no
`GRANT SET ON PARAMETER session_replication_role`), the triggers run as usual: same result,
slower; `LoadStats` does not differ.

A load that at least doubles a table (the first quarters into an empty store) drops that
table's indexes inside the transaction and builds them after the COPY, then ANALYZEs it
(`_defer_indexes`): the same indexes, several times cheaper than updating them row by row;
a failure rolls the drops back with the rest. Smaller loads update the indexes as before.

Frames (`REPORT_FRAME_SCHEMA` ...) link children to their report by `report_row`, a number
unique within `reports`; child order within a report is the row order of the frame.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl
import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from cerflow.errors import CerflowError
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
from cerflow.etl.records import (
    SERIOUSNESS_FLAGS,
    CanonicalEvent,
    CanonicalProduct,
    CanonicalReport,
    PartialDate,
)
from cerflow.sources.base import Provenance

log = structlog.get_logger(__name__)


class LoadIntegrityError(CerflowError, RuntimeError):
    """Rows written by a bulk load name a parent that does not exist (nothing is stored)."""

    status_code = 500


REPORT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "report_row": pl.Int64(),
    "source": pl.String(),
    "source_key": pl.String(),
    "source_version": pl.Int64(),
    "source_record_id": pl.String(),
    "kind": pl.String(),
    "received_date": pl.Date(),
    "received_precision": pl.String(),
    "event_date": pl.Date(),
    "event_precision": pl.String(),
    "country": pl.String(),
    "sex": pl.String(),
    "age_years": pl.Float64(),
    "serious": pl.Boolean(),
    **{f: pl.Boolean() for f in SERIOUSNESS_FLAGS},
    "event_type": pl.String(),
    "reporter_type": pl.String(),
    "narrative": pl.String(),
    "content_hash": pl.String(),
}
PRODUCT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "report_row": pl.Int64(),
    "seq": pl.Int64(),
    "role": pl.String(),
    "product_key": pl.String(),
    "raw_name": pl.String(),
    "product_code": pl.String(),
    "brand_name": pl.String(),
    "manufacturer": pl.String(),
    "route": pl.String(),
    "udi_di": pl.String(),
}
EVENT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "report_row": pl.Int64(),
    "term": pl.String(),
    "term_raw": pl.String(),
    "term_type": pl.String(),
}
_COPY_ROWS = 100_000


# -- frames <-> canonical records ---------------------------------------------------------
def reports_to_frames(
    reports: Iterable[CanonicalReport], *, start: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Canonical records as frames (`report_row` = `start` + position), hash included."""
    rep_rows: list[tuple[Any, ...]] = []
    prod_rows: list[tuple[Any, ...]] = []
    ev_rows: list[tuple[Any, ...]] = []
    for i, rep in enumerate(reports, start):
        rep_rows.append(report_values(i, rep, rep.content_hash()))
        prod_rows.extend(product_row(i, p) for p in rep.products)
        ev_rows.extend((i, ev.term, ev.term_raw, ev.term_type) for ev in rep.events)
    return (
        pl.DataFrame(rep_rows, schema=REPORT_FRAME_SCHEMA, orient="row"),
        pl.DataFrame(prod_rows, schema=PRODUCT_FRAME_SCHEMA, orient="row"),
        pl.DataFrame(ev_rows, schema=EVENT_FRAME_SCHEMA, orient="row"),
    )


def frames_to_reports(
    reports: pl.DataFrame, products: pl.DataFrame, events: pl.DataFrame
) -> list[CanonicalReport]:
    """Frames back to canonical records (for comparisons with the per-record path)."""
    by_row: dict[int, CanonicalReport] = {}
    out: list[CanonicalReport] = []
    for row in reports.iter_rows(named=True):
        received = (
            PartialDate(row["received_date"], row["received_precision"])
            if row["received_date"] is not None
            else None
        )
        event = (
            PartialDate(row["event_date"], row["event_precision"])
            if row["event_date"] is not None
            else None
        )
        rep = CanonicalReport(
            source=row["source"],
            source_key=row["source_key"],
            kind=row["kind"],
            source_version=row["source_version"],
            source_record_id=row["source_record_id"],
            received=received,
            event=event,
            country=row["country"],
            sex=row["sex"],
            age_years=row["age_years"],
            serious=row["serious"],
            event_type=row["event_type"],
            reporter_type=row["reporter_type"],
            narrative=row["narrative"],
            **{f: row[f] for f in SERIOUSNESS_FLAGS},
        )
        by_row[row["report_row"]] = rep
        out.append(rep)
    for p in products.iter_rows(named=True):
        by_row[p["report_row"]].products.append(
            CanonicalProduct(**{k: v for k, v in p.items() if k != "report_row"})
        )
    for e in events.iter_rows(named=True):
        by_row[e["report_row"]].events.append(
            CanonicalEvent(**{k: v for k, v in e.items() if k != "report_row"})
        )
    return out


# -- writing ------------------------------------------------------------------------------
def _csv_chunks(frame: pl.DataFrame) -> Iterator[bytes]:
    for part in frame.iter_slices(_COPY_ROWS):
        buf = io.BytesIO()
        part.write_csv(buf, include_header=False)
        yield buf.getvalue()


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _insert(conn: Connection, table: str, frame: pl.DataFrame) -> None:
    """Bulk insert: PostgreSQL COPY of polars CSV; SQLite executemany over row tuples."""
    if frame.height == 0:
        return
    cols = ", ".join(frame.columns)
    if conn.dialect.name == "postgresql":
        # CSV: NULL is an unquoted empty field, polars quotes an empty string ("").
        with (
            _raw(conn).cursor() as cur,
            cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for chunk in _csv_chunks(frame):
                copy.write(chunk)
        return
    # SQLAlchemy's Date type stores ISO text on SQLite; the raw driver needs it as text.
    frame = frame.with_columns(
        pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date
    )
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in frame.columns)})"
    cur = _raw(conn).cursor()
    try:
        for part in frame.iter_slices(_COPY_ROWS):
            cur.executemany(sql, part.iter_rows())
    finally:
        cur.close()


def _temp_keys(conn: Connection, name: str, frame: pl.DataFrame) -> None:
    """A temporary (source, source_key, report_row) table to join the store against."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                f"CREATE TEMP TABLE {name} (source varchar(32), source_key varchar(64),"
                " report_row bigint) ON COMMIT DROP"
            )
        )
    else:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))
        conn.execute(
            text(f"CREATE TEMP TABLE {name} (source TEXT, source_key TEXT, report_row INTEGER)")
        )
    _insert(conn, name, frame.select("source", "source_key", "report_row"))


def _drop_temp(conn: Connection, name: str) -> None:
    if conn.dialect.name != "postgresql":
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))


def _take_ids(conn: Connection, n: int) -> pl.Series:
    """Report ids before the rows exist, so children can be written in bulk.

    PostgreSQL: from the sequence (one query). SQLite: after MAX(id); safe because the
    snapshot insert earlier in this transaction holds SQLite's write lock.
    """
    if n == 0:
        return pl.Series("id", [], dtype=pl.Int64)
    if conn.dialect.name == "postgresql":
        with _raw(conn).cursor() as cur:
            # Only the range travels when the n values are consecutive (no concurrent caller
            # took values in between, the usual case); otherwise the values themselves.
            cur.execute(
                "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL"
                " ELSE array_agg(v ORDER BY v) END FROM (SELECT nextval("
                "pg_get_serial_sequence('reports', 'id')) AS v FROM generate_series(1, %s)) s",
                (n,),
            )
            low, high, values = cur.fetchone()
        if values is None:
            return pl.int_range(low, high + 1, dtype=pl.Int64, eager=True).alias("id")
        return pl.Series("id", values, dtype=pl.Int64)
    start = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM reports")).scalar_one()) + 1
    return pl.int_range(start, start + n, dtype=pl.Int64, eager=True).alias("id")


def _delete_children(conn: Connection, ids_table: str) -> None:
    for table in ("report_products", "report_events"):
        conn.execute(text(f"DELETE FROM {table} WHERE report_id IN (SELECT id FROM {ids_table})"))


def _ids_temp(conn: Connection, name: str, ids: pl.Series) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE TEMP TABLE {name} (id bigint PRIMARY KEY) ON COMMIT DROP"))
    else:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))
        conn.execute(text(f"CREATE TEMP TABLE {name} (id INTEGER PRIMARY KEY)"))
    _insert(conn, name, ids.to_frame("id"))


def _delete_listed(conn: Connection, delete_keys: Sequence[tuple[str, str]]) -> int:
    """Remove stored reports the source lists as deleted; returns how many were stored."""
    if not delete_keys:
        return 0
    keys = pl.DataFrame(
        {
            "source": [s for s, _ in delete_keys],
            "source_key": [k for _, k in delete_keys],
            "report_row": list(range(len(delete_keys))),
        },
        schema={"source": pl.String, "source_key": pl.String, "report_row": pl.Int64},
    )
    _temp_keys(conn, "cerflow_deleted_keys", keys)
    ids = [
        int(r[0])
        for r in conn.execute(
            text(
                "SELECT r.id FROM reports r JOIN cerflow_deleted_keys d"
                " ON r.source = d.source AND r.source_key = d.source_key"
            )
        )
    ]
    _drop_temp(conn, "cerflow_deleted_keys")
    if not ids:
        return 0
    _ids_temp(conn, "cerflow_deleted_ids", pl.Series(ids, dtype=pl.Int64))
    _delete_children(conn, "cerflow_deleted_ids")
    conn.execute(text("DELETE FROM reports WHERE id IN (SELECT id FROM cerflow_deleted_ids)"))
    _drop_temp(conn, "cerflow_deleted_ids")
    return len(ids)


def _triggers_off(conn: Connection) -> bool:
    """Skip per-row triggers for the rest of this transaction if the role may (module doc)."""
    if conn.dialect.name != "postgresql":
        return False
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except DBAPIError as exc:  # insufficient privilege: keep the per-row foreign-key checks
        log.info("bulk load keeps per-row foreign-key checks", reason=type(exc.orig).__name__)
        return False
    return True


def _triggers_on(conn: Connection) -> None:
    conn.exec_driver_sql("SET LOCAL session_replication_role = origin")


def _check_parents(conn: Connection, snapshot_id: int, report_ids: pl.Series) -> None:
    """The foreign keys' guarantee for the written rows, checked once for the whole set.

    The ids are mostly one consecutive block (the new reports' reserved range) plus the
    updated reports' ids, so the check counts stored reports per run of consecutive ids
    (one primary-key range scan each) instead of shipping every id into a temporary table
    and anti-joining it: ids are unique, so a run is complete exactly when its count equals
    its length. Only a failed check pays for the per-id query that names the first missing
    id."""
    ids = report_ids.unique().sort()
    runs = (
        ids.to_frame("id")
        .with_columns((pl.col("id").diff().fill_null(1) != 1).cum_sum().alias("run"))
        .group_by("run")
        .agg(pl.col("id").min().alias("lo"), pl.col("id").max().alias("hi"))
    )
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            text(
                "SELECT coalesce(sum(x.n), 0) FROM unnest(CAST(:lo AS bigint[]),"
                " CAST(:hi AS bigint[])) AS r(lo, hi) CROSS JOIN LATERAL ("
                "SELECT count(*) AS n FROM reports WHERE id BETWEEN r.lo AND r.hi) x"
            ),
            {"lo": runs["lo"].to_list(), "hi": runs["hi"].to_list()},
        ).scalar_one()
    else:
        found = -1  # the bulk path is PostgreSQL's; elsewhere take the per-id query
    snapshot = conn.execute(
        text("SELECT count(*) FROM source_snapshots WHERE id = :id"), {"id": snapshot_id}
    ).scalar_one()
    if found == ids.len() and snapshot:
        return
    _ids_temp(conn, "cerflow_written_parents", ids)
    missing = conn.execute(
        text(
            "SELECT count(*), min(w.id) FROM cerflow_written_parents w"
            " WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = w.id)"
        )
    ).one()
    conn.execute(text("DROP TABLE cerflow_written_parents"))
    if missing[0] or not snapshot:
        raise LoadIntegrityError(
            f"bulk load would store {missing[0]} report id(s) with child rows but no report"
            f" row (first: {missing[1]}), snapshot row present: {bool(snapshot)}; nothing was"
            " stored. This is a loader bug: please report it with the input file."
        )


# -- index maintenance for large loads (PostgreSQL) -----------------------------------------
# A COPY into an indexed table updates every index row by row: on a quarter into an empty
# store that is about 4/5 of the load (1.2M events: ~1.8 s into a bare table, ~10 s with the
# three indexes). Building an index once over the finished table is a sort, several times
# cheaper per row, and PostgreSQL runs it with parallel workers. It pays while the rows
# already stored are fewer than the rows coming in (a rebuild also re-reads them), so a
# table is rebuilt only then: the first quarters, or a first MAUDE year; the 85th quarter
# into a full-history store keeps the indexes and updates them as before.
_REBUILD_MIN_ROWS = 50_000  # below this the DDL costs more than the index updates it saves
_REBUILD_LOCK_TIMEOUT = "5s"  # readers of the table are waited for this long, then skipped
_REBUILD_MAINTENANCE_MEM = "512MB"  # per rebuild transaction (the server default is 64MB)


def _defer_indexes(conn: Connection, table: str, incoming: int) -> list[str]:
    """Drop `table`'s indexes when this load at least doubles it; returns the statements that
    re-create them exactly (`_rebuild_indexes`), or [] when the indexes stay.

    DDL is transactional: a failed import rolls the drops back with everything else. The
    drops hold an ACCESS EXCLUSIVE lock until commit, so readers of the table wait for the
    import; when another session already uses the table for longer than
    `_REBUILD_LOCK_TIMEOUT`, the indexes are kept instead (same result, slower). Indexes
    that a foreign key depends on (reports' primary key) are never dropped.
    """
    if conn.dialect.name != "postgresql" or incoming < max(_REBUILD_MIN_ROWS, 1):
        return []
    # Bounded count: exact below `incoming`, which is all the decision needs.
    existing = conn.execute(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :n) s"), {"n": incoming}
    ).scalar_one()
    if existing >= incoming:
        return []
    rows = conn.execute(
        text(
            "SELECT quote_ident(ic.relname), quote_ident(con.conname),"
            " pg_get_indexdef(i.indexrelid), pg_get_constraintdef(con.oid)"
            " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
            " LEFT JOIN pg_constraint con"
            "  ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
            "  AND con.contype IN ('p', 'u')"
            " WHERE i.indrelid = CAST(:t AS regclass) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'"
            "  AND f.conindid = i.indexrelid)"
            " ORDER BY ic.relname"
        ),
        {"t": table},
    ).all()
    if not rows:
        return []
    drops, creates = [], []
    for index, constraint, index_def, constraint_def in rows:
        if constraint:
            drops.append(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
            creates.append(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {constraint_def}")
        else:
            drops.append(f"DROP INDEX {index}")
            creates.append(index_def)
    timeout = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_REBUILD_LOCK_TIMEOUT}'")
            conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            for statement in drops:
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{timeout}'")
    except DBAPIError as exc:  # lock not granted in time: keep the indexes
        log.info("bulk load keeps the indexes", table=table, reason=type(exc.orig).__name__)
        return []
    return creates


def _rebuild_indexes(conn: Connection, tables: dict[str, list[str]]) -> None:
    """Re-create what `_defer_indexes` dropped (unique ones re-check their keys), then
    ANALYZE those tables: the planner's row estimates were made when they were small."""
    if not any(tables.values()):
        return
    memory = conn.exec_driver_sql("SHOW maintenance_work_mem").scalar_one()
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_REBUILD_MAINTENANCE_MEM}'")
    for table, statements in tables.items():
        for statement in statements:
            conn.exec_driver_sql(statement)
        if statements:
            conn.exec_driver_sql(f"ANALYZE {table}")
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{memory}'")


def _update_reports(conn: Connection, rows: pl.DataFrame) -> None:
    """Rewrite changed report rows in place (ids stay, so references stay valid)."""
    if rows.height == 0:
        return
    cols = [c for c in REPORT_COLUMNS if c != "id"]
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE TEMP TABLE cerflow_changed (LIKE reports INCLUDING DEFAULTS) ON COMMIT DROP"
            )
        )
        _insert(conn, "cerflow_changed", rows)
        sets = ", ".join(f"{c} = c.{c}" for c in cols)
        conn.execute(text(f"UPDATE reports r SET {sets} FROM cerflow_changed c WHERE r.id = c.id"))
        conn.execute(text("DROP TABLE cerflow_changed"))
        return
    frame = rows.select(*cols, "id").with_columns(
        pl.col(c).dt.strftime("%Y-%m-%d") for c, t in rows.schema.items() if t == pl.Date
    )
    sets = ", ".join(f"{c} = ?" for c in cols)
    cur = _raw(conn).cursor()
    try:
        cur.executemany(f"UPDATE reports SET {sets} WHERE id = ?", frame.iter_rows())
    finally:
        cur.close()


def load_report_frames(
    engine: Engine,
    reports: pl.DataFrame,
    products: pl.DataFrame,
    events: pl.DataFrame,
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
    delete_keys: Sequence[tuple[str, str]] = (),
) -> LoadStats:
    """Upsert a frame of reports with their products and events; see the module docstring."""
    stats = LoadStats(read=reports.height)
    reasons: Counter[str] = Counter()
    reports = reports.cast(REPORT_FRAME_SCHEMA)  # type: ignore[arg-type]
    products = products.cast(PRODUCT_FRAME_SCHEMA)  # type: ignore[arg-type]
    events = events.cast(EVENT_FRAME_SCHEMA)  # type: ignore[arg-type]

    missing_key = reports["source_key"].fill_null("") == ""
    no_product = ~reports["report_row"].is_in(products["report_row"].implode())
    reasons["missing source key"] = int(missing_key.sum())
    reasons["no product"] = int((no_product & ~missing_key).sum())
    valid = reports.filter(~missing_key & ~no_product)
    latest = (
        valid.with_row_index("_pos")
        .sort(["source", "source_key", "source_version", "_pos"])
        .unique(subset=["source", "source_key"], keep="last")
        .sort("_pos")
        .drop("_pos")
    )
    stats.unchanged += valid.height - latest.height  # superseded inside this import
    # Loader rule: an event term coded twice on one report is stored once.
    events = events.unique(
        subset=["report_row", "term", "term_type"], keep="first", maintain_order=True
    )

    with engine.begin() as conn:
        stats.snapshot_id = insert_snapshot(conn, provenance, source_stats)
        stats.deleted = _delete_listed(conn, delete_keys)
        _temp_keys(conn, "cerflow_incoming", latest)
        found = conn.execute(
            text(
                "SELECT i.report_row, r.id, r.source_version, r.content_hash"
                " FROM cerflow_incoming i JOIN reports r"
                " ON r.source = i.source AND r.source_key = i.source_key"
            )
        ).all()
        _drop_temp(conn, "cerflow_incoming")
        existing = pl.DataFrame(
            [tuple(r) for r in found],
            schema={
                "report_row": pl.Int64,
                "id": pl.Int64,
                "_stored_version": pl.Int64,
                "_stored_hash": pl.String,
            },
            orient="row",
        )
        joined = latest.join(existing, on="report_row", how="left", maintain_order="left")
        is_new = pl.col("id").is_null()
        same = (pl.col("_stored_version") > pl.col("source_version")) | (
            pl.col("_stored_hash") == pl.col("content_hash")
        )
        new = joined.filter(is_new).drop("id")
        changed = joined.filter(~is_new & ~same)
        stats.unchanged += joined.height - new.height - changed.height

        new = new.with_columns(_take_ids(conn, new.height))
        rows = pl.concat([new.select(changed.columns), changed], how="vertical").with_columns(
            pl.lit(stats.snapshot_id, dtype=pl.Int64).alias("snapshot_id")
        )
        ids = rows.select("report_row", pl.col("id").alias("report_id"))

        if changed.height:
            _ids_temp(conn, "cerflow_changed_ids", changed["id"])
            _delete_children(conn, "cerflow_changed_ids")
            _drop_temp(conn, "cerflow_changed_ids")
            _update_reports(conn, rows.slice(new.height).select(REPORT_COLUMNS))
        product_rows = products.join(ids, on="report_row", how="inner", maintain_order="left")
        event_rows = events.join(ids, on="report_row", how="inner", maintain_order="left")
        bulk = rows.height > 0 and _triggers_off(conn)
        deferred = {
            table: _defer_indexes(conn, table, n)
            for table, n in (
                ("reports", new.height),
                ("report_products", product_rows.height),
                ("report_events", event_rows.height),
            )
        }
        _insert(conn, "reports", rows.head(new.height).select(REPORT_COLUMNS))
        if progress:
            progress(reports.height)
        _insert(conn, "report_products", product_rows.select(PRODUCT_COLUMNS))
        _insert(conn, "report_events", event_rows.select(EVENT_COLUMNS))
        _rebuild_indexes(conn, deferred)
        if bulk:
            _triggers_on(conn)
            _check_parents(
                conn,
                stats.snapshot_id,
                pl.concat([product_rows["report_id"], event_rows["report_id"]]),
            )
        stats.inserted = new.height
        stats.updated = changed.height
        stats.rejected = sum(reasons.values())
        stats.reject_reasons = {k: v for k, v in reasons.items() if v}
        finish_snapshot(conn, stats, source_stats)
    return stats


def load_reports(
    engine: Engine,
    reports: Iterable[CanonicalReport],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
    batch_size: int = 10_000,
) -> LoadStats:
    """Upsert canonical reports: frames of them, then `load_report_frames`.

    `reports` is read to the end before the transaction opens (converted `batch_size` at a
    time, so only one batch of Python objects is alive; `progress` hears of every thousand
    read, which for a paged API is as they arrive), so a reader that fails midway stores
    nothing, and a reader that fills `source_stats` in place after its last record (the
    paged APIs' checksum, MAUDE's join counts) has done so when the snapshot row is written.
    """
    parts: list[tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = []
    start = 0
    counted = _counted(reports, progress) if progress else reports
    for batch in batches(counted, batch_size):
        parts.append(reports_to_frames(batch, start=start))
        start += len(batch)
    if not parts:
        parts.append(reports_to_frames([]))
    rep, prod, ev = (pl.concat([part[i] for part in parts], how="vertical") for i in range(3))
    parts.clear()
    return load_report_frames(engine, rep, prod, ev, provenance, source_stats=source_stats)


def _counted(
    reports: Iterable[CanonicalReport], progress: Progress, every: int = 1000
) -> Iterator[CanonicalReport]:
    pending = 0
    for rep in reports:
        yield rep
        pending += 1
        if pending == every:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)
