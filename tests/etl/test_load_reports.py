"""The report loader against the row-wise reference on SQLite and the real PostgreSQL: the
same stored rows, idempotence, versions, rejects, rollback, and removal of cases FDA lists
as deleted."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from sqlalchemy import Engine, func, select, text

from cerflow.db import make_engine
from cerflow.etl import load_reports as report_loader
from cerflow.etl.faers import faers_reports
from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load_reports import load_report_frames, load_reports, reports_to_frames
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, CanonicalReport
from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.sources.faers_ascii import FaersQuarter
from cerflow.store.models import Report, ReportEvent, ReportProduct, SourceSnapshot
from tests.etl.rowwise_reference import load_reports_rowwise
from tests.etl.test_faers_columnar import SAMPLE_DIR, demo, drug, make_zip, quirky_quarter

PROV = Provenance(source="test", location="memory://test", sha256="0" * 64)


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Whole tables without ids: children carry their report's key instead of its id."""
    with engine.connect() as conn:
        reports = conn.execute(
            text(
                "SELECT source, source_key, source_version, source_record_id, kind,"
                " received_date, received_precision, event_date, event_precision, country, sex,"
                " age_years, serious, death, life_threatening, hospitalization, disability,"
                " congenital_anomaly, required_intervention, other_serious, event_type,"
                " reporter_type, narrative, content_hash FROM reports"
            )
        ).all()
        products = conn.execute(
            text(
                "SELECT r.source_key, p.seq, p.role, p.product_key, p.raw_name, p.product_code,"
                " p.brand_name, p.manufacturer, p.route, p.udi_di"
                " FROM report_products p JOIN reports r ON r.id = p.report_id"
            )
        ).all()
        events = conn.execute(
            text(
                "SELECT r.source_key, e.term, e.term_raw, e.term_type"
                " FROM report_events e JOIN reports r ON r.id = e.report_id"
            )
        ).all()
    key = repr
    return {
        "reports": sorted((tuple(r) for r in reports), key=key),
        "products": sorted((tuple(r) for r in products), key=key),
        "events": sorted((tuple(r) for r in events), key=key),
    }


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("report_events", "report_products", "reports", "source_snapshots"):
            conn.execute(text(f"DELETE FROM {table}"))


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Report, ReportProduct, ReportEvent, SourceSnapshot)
        )


def _load_frames(engine: Engine, path: Path) -> Any:
    return load_quarter(engine, read_faers_frames(path))


def _load_reference(engine: Engine, path: Path) -> Any:
    with FaersQuarter(path) as quarter:
        return load_reports_rowwise(
            engine, faers_reports(quarter.records()), quarter.provenance, source_stats=quarter.stats
        )


def _load_records(engine: Engine, path: Path) -> Any:
    """`load_reports`: the per-record reader's canonical reports through the frames path."""
    with FaersQuarter(path) as quarter:
        return load_reports(
            engine, faers_reports(quarter.records()), quarter.provenance, source_stats=quarter.stats
        )


def _same_tables(engine: Engine, paths: list[Path]) -> dict[str, list[tuple[Any, ...]]]:
    _empty(engine)
    ref_stats = [_load_reference(engine, p).as_dict() for p in paths]
    expected = _dump(engine)
    for load in (_load_frames, _load_records):
        _empty(engine)
        got_stats = [load(engine, p).as_dict() for p in paths]
        assert _dump(engine) == expected, load.__name__
        assert got_stats == ref_stats, load.__name__
    return expected


def test_real_quarters_store_the_same_rows(db_engine: Engine, shared_data: Path) -> None:
    paths = sorted((shared_data / "faers_ascii").glob("*.zip"))
    stored = _same_tables(db_engine, paths)
    assert len(stored["reports"]) == 200 and len(stored["products"]) > 200


def test_bundled_quarters_store_the_same_rows_including_updates(db_engine: Engine) -> None:
    paths = sorted(SAMPLE_DIR.glob("*.zip"))[:3]  # later quarters update earlier cases
    stored = _same_tables(db_engine, paths)
    assert len(stored["reports"]) > 1000


def test_quirky_quarter_stores_the_same_rows(db_engine: Engine, tmp_path: Path) -> None:
    stored = _same_tables(db_engine, [quirky_quarter(tmp_path / "q.zip")])
    # cases 400 and 600 have no product: rejected by both loaders
    assert {r[1] for r in stored["reports"]} == {"100", "300", "500"}
    assert ("100", "nausea", "Nausea", "pt") in stored["events"]


def test_reimport_is_unchanged_and_newer_version_updates(db_engine: Engine, tmp_path: Path) -> None:
    q1 = make_zip(
        tmp_path / "q1.zip",
        {
            "demo": [demo(1001, 100, 1), demo(2001, 200, 1)],
            "drug": [drug(1001, 100, 1, "PS", "A", "A"), drug(2001, 200, 1, "PS", "B", "B")],
            "reac": ["1001$100$Rash$", "2001$200$Rash$"],
        },
    )
    q2 = make_zip(
        tmp_path / "q2.zip",
        {
            "demo": [demo(1002, 100, 2)],
            "drug": [drug(1002, 100, 1, "PS", "A", "A"), drug(1002, 100, 2, "C", "C", "C")],
            "reac": ["1002$100$Headache$"],
        },
        quarter="17Q3",
    )
    first = _load_frames(db_engine, q1)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    again = _load_frames(db_engine, q1)
    assert (again.read, again.inserted, again.updated, again.unchanged) == (2, 0, 0, 2)
    newer = _load_frames(db_engine, q2)
    assert (newer.inserted, newer.updated, newer.unchanged) == (0, 1, 0)
    older = _load_frames(db_engine, q1)  # an old quarter never overwrites a later version
    assert (older.updated, older.unchanged) == (0, 2)
    stored = _dump(db_engine)
    assert [r[1:3] for r in stored["reports"]] == [("100", 2), ("200", 1)]
    assert [p[:4] for p in stored["products"] if p[0] == "100"] == [
        ("100", 1, "suspect", "A"),
        ("100", 2, "concomitant", "C"),
    ]
    assert [e[:2] for e in stored["events"] if e[0] == "100"] == [("100", "headache")]
    assert _counts(db_engine) == (2, 3, 2, 4)


def test_deleted_cases_already_stored_are_removed(db_engine: Engine, tmp_path: Path) -> None:
    q1 = make_zip(
        tmp_path / "q1.zip",
        {
            "demo": [demo(1001, 100, 1), demo(2001, 200, 1), demo(3001, 300, 1)],
            "drug": [
                drug(p, c, 1, "PS", "A", "A") for p, c in ((1001, 100), (2001, 200), (3001, 300))
            ],
            "reac": ["1001$100$Rash$", "2001$200$Rash$", "3001$300$Rash$"],
        },
    )
    q2 = make_zip(
        tmp_path / "q2.zip",
        {
            "demo": [demo(4001, 400, 1)],
            "drug": [drug(4001, 400, 1, "PS", "D", "D")],
            "reac": ["4001$400$Rash$"],
            "deleted": ["200", "300", "999"],
        },
        quarter="17Q3",
    )
    _load_frames(db_engine, q1)
    stats = _load_frames(db_engine, q2)
    assert (stats.inserted, stats.deleted) == (1, 2)
    stored = _dump(db_engine)
    assert [r[1] for r in stored["reports"]] == ["100", "400"]
    assert sorted(p[0] for p in stored["products"]) == ["100", "400"]
    assert sorted(e[0] for e in stored["events"]) == ["100", "400"]
    with db_engine.connect() as conn:
        snap = conn.execute(
            select(SourceSnapshot.stats).order_by(SourceSnapshot.id.desc()).limit(1)
        ).scalar_one()
    assert snap["load"]["deleted"] == 2


def test_rejects_and_duplicate_keys(db_engine: Engine) -> None:
    def rep(key: str, version: int, name: str, products: bool = True) -> CanonicalReport:
        return CanonicalReport(
            source="faers",
            source_key=key,
            kind="drug",
            source_version=version,
            products=[CanonicalProduct(role="suspect", product_key=name)] if products else [],
            events=[CanonicalEvent(term="rash"), CanonicalEvent(term="rash")],
        )

    reports = [rep("1", 2, "NEW"), rep("1", 1, "OLD"), rep("", 1, "X"), rep("2", 1, "Y", False)]
    frames = reports_to_frames(reports)
    stats = load_report_frames(db_engine, *frames, PROV)
    _empty(db_engine)
    ref = load_reports_rowwise(db_engine, reports, PROV)  # the reference on the same input
    assert stats.as_dict() == ref.as_dict()
    _empty(db_engine)
    records = load_reports(db_engine, reports, PROV, batch_size=3)  # chunks join as one import
    assert records.as_dict() == ref.as_dict()
    assert (stats.inserted, stats.unchanged, stats.rejected) == (1, 1, 2)
    assert stats.reject_reasons == {"missing source key": 1, "no product": 1}


def test_failure_stores_nothing(db_engine: Engine, tmp_path: Path) -> None:
    _load_frames(db_engine, quirky_quarter(tmp_path / "q.zip"))
    before = _dump(db_engine), _counts(db_engine)
    frames = read_faers_frames(tmp_path / "q.zip")
    reports = frames.reports.with_columns(  # all newer and changed: updates, then a failure
        pl.lit(5).alias("source_version"), pl.lit("f" * 64).alias("content_hash")
    )
    products = frames.products.with_columns(pl.lit(None, dtype=pl.String).alias("product_key"))
    with pytest.raises(Exception, match=r"(?i)null|not null"):
        load_report_frames(db_engine, reports, products, frames.events, frames.provenance)
    assert (_dump(db_engine), _counts(db_engine)) == before


def test_malformed_quarter_raises_before_anything_is_stored(
    db_engine: Engine, tmp_path: Path
) -> None:
    bad = make_zip(
        tmp_path / "bad.zip",
        {
            "demo": [demo(1001, 100, 1)],
            "drug": [drug(1001, 100, 1, "XX", "A", "A")],
            "reac": ["1001$100$Rash$"],
        },
    )
    with pytest.raises(SourceFormatError) as info:
        _load_frames(db_engine, bad)
    assert info.value.field == "role_cod" and info.value.line == 2
    assert _counts(db_engine) == (0, 0, 0, 0)


def _foreign_keys(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
                " WHERE contype = 'f' AND convalidated"
                " AND conrelid::regclass::text IN ('reports', 'report_products', 'report_events')"
            )
        ).all()
    return {(a, b) for a, b in rows}


def _drop_last_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a loader bug: the last new report row is never written, its children are."""
    real = report_loader._insert

    def insert(conn: Any, table: str, frame: pl.DataFrame) -> None:
        real(conn, table, frame.head(frame.height - 1) if table == "reports" else frame)

    monkeypatch.setattr(report_loader, "_insert", insert)


def test_bulk_load_checks_parents_once_and_keeps_the_foreign_keys(
    scratch_pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL bulk path: per-row triggers off, foreign keys still declared and validated,
    an orphan child refused by the set-based check with nothing stored."""
    engine = scratch_pg_engine
    _empty(engine)
    calls: list[bool] = []
    real_off = report_loader._triggers_off

    def off(conn: Any) -> bool:
        calls.append(real_off(conn))
        return calls[-1]

    monkeypatch.setattr(report_loader, "_triggers_off", off)
    path = quirky_quarter(tmp_path / "q.zip")
    stats = _load_frames(engine, path)
    assert calls == [True] and stats.inserted > 0
    assert _foreign_keys(engine) == {
        ("reports", "source_snapshots"),
        ("report_products", "reports"),
        ("report_events", "reports"),
    }
    with engine.connect() as conn:  # the role is back to normal after the load
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar_one() == "origin"
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM report_products p"
                " WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = p.report_id)"
            )
        ).scalar_one()
    assert orphans == 0
    _empty(engine)

    _drop_last_report(monkeypatch)
    with pytest.raises(report_loader.LoadIntegrityError, match=r"1 report id\(s\).*nothing"):
        _load_frames(engine, path)
    assert _counts(engine) == (0, 0, 0, 0)
    _empty(engine)


def test_bulk_load_without_the_privilege_keeps_per_row_checks(
    scratch_pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role that may not set session_replication_role loads the same rows, FK-checked."""
    engine = scratch_pg_engine
    _empty(engine)
    role = f"cerflow_loader_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    limited = make_engine(engine.url.set(username=role).render_as_string(hide_password=False))
    try:
        path = quirky_quarter(tmp_path / "q.zip")
        expected = _same_tables(engine, [path])  # reference rows, loaded as the superuser
        _empty(engine)
        stats = _load_frames(limited, path)
        assert stats.inserted > 0 and _dump(engine) == expected
        _empty(engine)
        _drop_last_report(monkeypatch)
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="foreign key"):
            _load_frames(limited, path)
        assert _counts(engine) == (0, 0, 0, 0)
    finally:
        limited.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
            conn.execute(text(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def _schema(engine: Engine) -> set[tuple[str, str]]:
    """Every index and constraint of the report tables, as PostgreSQL re-states them."""
    tables = "('reports', 'report_products', 'report_events')"
    with engine.connect() as conn:
        indexes = conn.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                f" WHERE indrelid::regclass::text IN {tables}"
            )
        ).all()
        constraints = conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) || ' valid=' || convalidated"
                f" FROM pg_constraint WHERE conrelid::regclass::text IN {tables}"
            )
        ).all()
    return {(a, b) for a, b in [*indexes, *constraints]}


def _spy_deferred(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(table, statements to re-create) per `_defer_indexes` call."""
    calls: list[tuple[str, int]] = []
    real = report_loader._defer_indexes

    def defer(conn: Any, table: str, incoming: int) -> list[str]:
        out = real(conn, table, incoming)
        calls.append((table, len(out)))
        return out

    monkeypatch.setattr(report_loader, "_defer_indexes", defer)
    return calls


def test_index_rebuild_stores_the_same_rows_and_restores_every_index(
    scratch_pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that at least doubles a table drops its indexes and builds them after the COPY:
    same rows as the reference (three quarters, with version updates), and afterwards the
    same indexes and constraints as the migrations made, analyzed."""
    engine = scratch_pg_engine
    _empty(engine)
    schema = _schema(engine)
    assert len(schema) == 18  # 10 indexes; 3 primary keys, 1 unique, 4 foreign keys
    monkeypatch.setattr(report_loader, "_REBUILD_MIN_ROWS", 0)
    calls = _spy_deferred(monkeypatch)
    paths = sorted(SAMPLE_DIR.glob("*.zip"))[:3]
    stored = _same_tables(engine, paths)
    assert len(stored["reports"]) > 1000
    # Into the emptied store, the first two quarters (the second is larger than the first)
    # rebuild every index but reports' primary key (the children's foreign keys use it);
    # the third, with its version updates, no longer doubles the tables: indexes kept.
    tables = ["reports", "report_products", "report_events"] * 3
    assert calls[:9] == list(zip(tables, [3, 4, 3, 3, 4, 3, 0, 0, 0], strict=True))
    assert _schema(engine) == schema
    with engine.connect() as conn:
        analyzed = conn.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
                " AND relname IN ('reports', 'report_products', 'report_events')"
            )
        ).scalars()
        assert set(analyzed) == {"reports", "report_products", "report_events"}
    _empty(engine)


def test_index_rebuild_failure_keeps_the_indexes_and_stores_nothing(
    scratch_pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drops are part of the import's transaction: a failure after them (a bad row in
    the COPY, or the set-based parent check after the rebuild) undoes them too."""
    engine = scratch_pg_engine
    _empty(engine)
    schema = _schema(engine)
    monkeypatch.setattr(report_loader, "_REBUILD_MIN_ROWS", 0)
    calls = _spy_deferred(monkeypatch)
    path = quirky_quarter(tmp_path / "q.zip")
    frames = read_faers_frames(path)
    products = frames.products.with_columns(pl.lit(None, dtype=pl.String).alias("product_key"))
    with pytest.raises(psycopg.errors.NotNullViolation, match="product_key"):
        load_report_frames(engine, frames.reports, products, frames.events, frames.provenance)
    assert calls[1] == ("report_products", 4)
    assert _counts(engine) == (0, 0, 0, 0) and _schema(engine) == schema
    _drop_last_report(monkeypatch)
    with pytest.raises(report_loader.LoadIntegrityError, match="nothing"):
        _load_frames(engine, path)
    assert _counts(engine) == (0, 0, 0, 0) and _schema(engine) == schema


def test_index_rebuild_waits_for_readers_only_briefly(
    scratch_pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session reading the events table holds its lock: the loader keeps that table's
    indexes after the lock timeout and stores the same rows; other tables are rebuilt."""
    engine = scratch_pg_engine
    _empty(engine)
    path = quirky_quarter(tmp_path / "q.zip")
    expected = _same_tables(engine, [path])
    _empty(engine)
    schema = _schema(engine)
    monkeypatch.setattr(report_loader, "_REBUILD_MIN_ROWS", 0)
    monkeypatch.setattr(report_loader, "_REBUILD_LOCK_TIMEOUT", "200ms")
    calls = _spy_deferred(monkeypatch)
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM report_events")).scalar_one()  # lock held
        stats = _load_frames(engine, path)
        reader.rollback()
    assert stats.inserted == 3
    assert calls == [("reports", 3), ("report_products", 4), ("report_events", 0)]
    assert _dump(engine) == expected and _schema(engine) == schema
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "0"
    _empty(engine)


def test_parent_check_counts_runs_of_ids_and_names_the_first_gap(
    scratch_pg_engine: Engine, tmp_path: Path
) -> None:
    """`_check_parents` counts stored reports per run of consecutive ids: complete runs and
    scattered (updated) ids pass; a gap inside a run, a missing singleton or a run past the
    stored ids is refused with the first missing id, which is known here by construction."""
    engine = scratch_pg_engine
    _empty(engine)
    stats = _load_frames(engine, quirky_quarter(tmp_path / "q.zip"))
    with engine.connect() as conn:
        stored = sorted(conn.execute(text("SELECT id FROM reports")).scalars())
    assert len(stored) >= 3
    top = stored[-1]
    ok = pl.Series([*stored, *stored[:2]], dtype=pl.Int64)  # repeats, as children give them
    cases = {
        "id after a run": ([*stored[:-1], top + 1], top + 1),
        "missing singleton": ([stored[0], top + 50], top + 50),
        "run past the end": ([top, top + 1, top + 2], top + 1),
    }
    with engine.begin() as conn:
        report_loader._check_parents(conn, stats.snapshot_id, ok)
        for name, (ids, first) in cases.items():
            with conn.begin_nested(), pytest.raises(report_loader.LoadIntegrityError) as err:
                report_loader._check_parents(conn, stats.snapshot_id, pl.Series(ids))
            missing = len([i for i in ids if i not in set(stored)])
            assert f"{missing} report id(s)" in str(err.value), name
            assert f"(first: {first})" in str(err.value), name
        with conn.begin_nested(), pytest.raises(report_loader.LoadIntegrityError, match="False"):
            report_loader._check_parents(conn, stats.snapshot_id + 1000, ok)
        with conn.begin_nested() as inner:  # a hole inside one run of consecutive ids
            conn.execute(text("DELETE FROM reports WHERE id = :id"), {"id": stored[1]})
            with pytest.raises(
                report_loader.LoadIntegrityError, match=rf"1 report id\(s\).*first: {stored[1]}\)"
            ):
                report_loader._check_parents(conn, stats.snapshot_id, ok)
            inner.rollback()
    _empty(engine)
