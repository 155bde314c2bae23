"""Server-side fill of a full-history-sized PostgreSQL store for the report benchmark.

    seconds = bulk_background(engine, reports=10_000_000)   # after migrate, before the product

Why not the loader: the loader parses, deduplicates and checks every report in Python (it
is the ingest benchmark's business); at millions of reports that takes hours, while the
report benchmark only needs a store of the right size and shape. Here PostgreSQL generates
the rows itself (INSERT ... SELECT over generate_series), in chunks so progress shows:
- one source snapshot ("faers_ascii", generated) that every background report points to,
  so the store version and the per-snapshot counts work as after a real import;
- FAERS-like vocabularies with long-tailed (Zipf-like, density ~1/rank) popularity:
  ~6,000 products (`FHDRUG0001`...) and ~15,000 terms, the first 400 being the report
  benchmark's own terms so the product's events have a real background; 2-3 products
  and 2-3 events per report; a rare planted term (the benchmark's signal term) at 0.2 %;
- secondary indexes and the (source, source_key) constraint are dropped before the fill
  and built after it (one sort each instead of millions of index inserts), then ANALYZE.
  Foreign-key triggers are off for the fill's session (`session_replication_role =
  replica`: the generated ids are right by construction; superuser only, as on the
  benchmark's local server).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from sqlalchemy import Connection, Engine, text

N_PRODUCTS = 6_000
N_TERMS = 15_000
CHUNK = 1_000_000

# (table, index or constraint name, the statement that rebuilds it); dropped for the fill.
_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("reports", "ix_reports_received_date", "CREATE INDEX {n} ON reports (received_date)"),
    ("reports", "ix_reports_kind_received", "CREATE INDEX {n} ON reports (kind, received_date)"),
    (
        "report_products",
        "ix_report_products_product_key",
        "CREATE INDEX {n} ON report_products (product_key, report_id)",
    ),
    (
        "report_products",
        "ix_report_products_report_id",
        "CREATE INDEX {n} ON report_products (report_id)",
    ),
    (
        "report_events",
        "ix_report_events_term",
        "CREATE INDEX {n} ON report_events (term, report_id)",
    ),
    (
        "report_events",
        "ix_report_events_report_id",
        "CREATE INDEX {n} ON report_events (report_id)",
    ),
)
_UNIQUE = ("reports", "uq_reports_source_source_key", "(source, source_key)")


def _say(msg: str) -> None:
    print(f"[fill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _zipf(n: int) -> str:
    """SQL for a rank in 1..n with density ~1/rank (log-uniform), per row."""
    return f"least({n}, floor(exp(random() * ln({n + 1}))))::int"


def _stats(reports: int) -> dict[str, Any]:
    """The load statistics a loader would record, so the report's source flow adds up."""
    load = {"read": reports, "inserted": reports, "updated": 0, "unchanged": 0}
    return {"load": {**load, "deleted": 0, "rejected": 0, "reject_reasons": {}}, "source": {}}


def _drop_indexes(conn: Connection) -> list[tuple[str, str, str]]:
    present = {
        r[0]
        for r in conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        )
    }
    dropped = [ix for ix in _INDEXES if ix[1] in present]
    for _, name, _ in dropped:
        conn.execute(text(f'DROP INDEX "{name}"'))
    conn.execute(text(f'ALTER TABLE reports DROP CONSTRAINT IF EXISTS "{_UNIQUE[1]}"'))
    return dropped


def bulk_background(engine: Engine, *, reports: int, seed: float = 0.42) -> float:
    """Insert `reports` generated drug reports (with products and events); seconds taken."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        snapshot = conn.execute(
            text(
                "INSERT INTO source_snapshots (source, location, query, retrieved_at, "
                "record_count, sha256, is_generated, stats) VALUES ('faers_ascii', "
                "'generated://report-benchmark/full-history', NULL, now(), :n, :sha, true, "
                "CAST(:stats AS json)) RETURNING id"
            ),
            {"n": reports, "sha": "1" * 64, "stats": json.dumps(_stats(reports))},
        ).scalar_one()
        first = int(conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM reports")).scalar_one())
        dropped = _drop_indexes(conn)
        _say(f"indexes dropped ({len(dropped)} + unique); inserting {reports:,} reports")
        for lo in range(0, reports, CHUNK):
            a, b = first + lo, first + min(reports, lo + CHUNK) - 1
            _insert_chunk(conn, a, b, int(snapshot))
            _say(f"{b - first + 1:,} / {reports:,} reports ({time.perf_counter() - t0:.0f} s)")
        last = first + reports - 1
        for table in ("reports", "report_products", "report_events"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 1))"
                )
            )
        _say(f"rows in ({time.perf_counter() - t0:.0f} s); building indexes")
        for _, name, ddl in dropped:
            conn.execute(text(ddl.format(n=f'"{name}"')))
            _say(f"{name} built ({time.perf_counter() - t0:.0f} s)")
        conn.execute(
            text(f'ALTER TABLE {_UNIQUE[0]} ADD CONSTRAINT "{_UNIQUE[1]}" UNIQUE {_UNIQUE[2]}')
        )
        _say(f"unique constraint built, ids {first}..{last}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("reports", "report_products", "report_events", "source_snapshots"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    _say(f"vacuum analyze done ({time.perf_counter() - t0:.0f} s)")
    return time.perf_counter() - t0


def _insert_chunk(conn: Connection, a: int, b: int, snapshot: int) -> None:
    """Reports a..b (ids), then their products and events; cheap per-row SQL only."""
    conn.execute(
        text(
            """
            INSERT INTO reports (id, source, source_key, source_version, source_record_id,
                kind, received_date, received_precision, country, sex, age_years, serious,
                death, life_threatening, hospitalization, disability, congenital_anomaly,
                required_intervention, other_serious, content_hash, snapshot_id)
            SELECT i, 'faers', 'fh' || i, 1, 'fh' || i || '1', 'drug',
                date '2004-01-01' + (random() * 7900)::int, 'D',
                (ARRAY['US','US','US','GB','DE','FR','JP','CA'])[1 + (i % 8)],
                (ARRAY['F','M',NULL])[1 + (i % 3)],
                CASE WHEN i % 10 < 7 THEN 18 + (i * 7919) % 73 END,
                s.serious, s.serious AND random() < 0.05, false,
                s.serious AND random() < 0.5, false, false, false, false,
                md5(i::text), :snap
            FROM (
                SELECT i, random() < 0.4 AS serious
                FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i
            ) s
            """
        ),
        {"a": a, "b": b, "snap": snapshot},
    )
    conn.execute(
        text(
            f"""
            INSERT INTO report_products (report_id, seq, role, product_key, raw_name)
            SELECT i, k, CASE WHEN k = 0 THEN 'suspect' ELSE 'concomitant' END,
                'FHDRUG' || lpad(({_zipf(N_PRODUCTS)})::text, 4, '0'), NULL
            FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i,
                LATERAL generate_series(0, 1 + (i % 2)::int) k
            """
        ),
        {"a": a, "b": b},
    )
    conn.execute(
        text(
            f"""
            INSERT INTO report_events (report_id, term, term_raw, term_type)
            SELECT i, t.term, t.term, 'pt'
            FROM (
                SELECT i, CASE WHEN r <= 400
                    THEN 'benchmark term ' || lpad((r - 1)::text, 3, '0')
                    ELSE 'fh term ' || r END AS term
                FROM (
                    SELECT i, {_zipf(N_TERMS)} AS r
                    FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i,
                        LATERAL generate_series(0, 1 + ((i / 2) % 2)::int) k
                ) z
            ) t
            UNION ALL
            SELECT i, 'rhabdomyolysis', 'Rhabdomyolysis', 'pt'
            FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i
            WHERE random() < 0.002
            """
        ),
        {"a": a, "b": b},
    )


def database_size(engine: Engine) -> dict[str, int]:
    """Bytes on disk: the database and the three report tables (with their indexes)."""
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        out = {"database": int(size)}
        for table in ("reports", "report_products", "report_events"):
            out[table] = int(
                conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one()
            )
    return out
