"""`load_reports` (canonical records -> frames -> the one report write path) on SQLite and
the real PostgreSQL: inserts, idempotence, versions, rejects, rollback, the paged checksum."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from cerflow.etl.load_reports import load_reports
from cerflow.etl.records import (
    CanonicalEvent,
    CanonicalProduct,
    CanonicalReport,
    PartialDate,
)
from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.store.models import Report, ReportEvent, ReportProduct, SourceSnapshot

PROV = Provenance(source="test", location="memory://test", sha256="0" * 64)


def _report(key: str, version: int = 1, terms: tuple[str, ...] = ("nausea",)) -> CanonicalReport:
    return CanonicalReport(
        source="faers",
        source_key=key,
        kind="drug",
        source_version=version,
        received=PartialDate(dt.date(2024, 3, 1), "M"),
        sex="F",
        age_years=54.0,
        serious=True,
        hospitalization=True,
        products=[
            CanonicalProduct(role="suspect", product_key="ATORVASTATIN", raw_name="LIPITOR"),
            CanonicalProduct(role="concomitant", product_key="METFORMIN", seq=1),
        ],
        events=[CanonicalEvent(term=t, term_raw=t.title()) for t in terms],
    )


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Report)).scalar_one(),
            conn.execute(select(func.count()).select_from(ReportProduct)).scalar_one(),
            conn.execute(select(func.count()).select_from(ReportEvent)).scalar_one(),
        )


def test_insert_then_reimport_changes_nothing(db_engine: Engine) -> None:
    reports = [_report(str(i), terms=("nausea", "vomiting")) for i in range(12)]
    first = load_reports(db_engine, reports, PROV, batch_size=5)
    assert (first.read, first.inserted, first.updated, first.unchanged) == (12, 12, 0, 0)
    assert _counts(db_engine) == (12, 24, 24)
    second = load_reports(db_engine, reports, PROV, batch_size=5)
    assert (second.read, second.inserted, second.updated, second.unchanged) == (12, 0, 0, 12)
    assert _counts(db_engine) == (12, 24, 24)
    with db_engine.connect() as conn:
        row = conn.execute(select(Report).where(Report.source_key == "3")).one()
        assert row.received_date == dt.date(2024, 3, 1)
        assert row.received_precision == "M"
        assert row.hospitalization is True and row.death is False
        snaps = conn.execute(select(SourceSnapshot.record_count, SourceSnapshot.stats)).all()
    assert [s.record_count for s in snaps] == [12, 12]
    assert snaps[1].stats["load"]["unchanged"] == 12


def test_newer_version_replaces_children_older_is_ignored(db_engine: Engine) -> None:
    load_reports(db_engine, [_report("7", 1, ("nausea",))], PROV)
    upd = load_reports(db_engine, [_report("7", 2, ("rhabdomyolysis", "myalgia"))], PROV)
    assert (upd.inserted, upd.updated) == (0, 1)
    old = load_reports(db_engine, [_report("7", 1, ("headache",))], PROV)
    assert (old.inserted, old.updated, old.unchanged) == (0, 0, 1)
    with db_engine.connect() as conn:
        terms = sorted(conn.execute(select(ReportEvent.term)).scalars())
        version = conn.execute(select(Report.source_version)).scalar_one()
    assert terms == ["myalgia", "rhabdomyolysis"]
    assert version == 2


def test_duplicate_keys_in_one_import_keep_latest_version(db_engine: Engine) -> None:
    stats = load_reports(db_engine, [_report("1", 3), _report("1", 1), _report("2")], PROV)
    assert stats.inserted == 2
    with db_engine.connect() as conn:
        assert (
            conn.execute(select(Report.source_version).where(Report.source_key == "1")).scalar_one()
            == 3
        )


def test_failure_mid_stream_stores_nothing(db_engine: Engine) -> None:
    load_reports(db_engine, [_report("keep")], PROV)
    before = _counts(db_engine)

    def broken() -> Iterator[CanonicalReport]:
        for i in range(7000):  # more than a batch: conversion had started
            yield _report(f"n{i}")
        raise SourceFormatError("bad", location="x.txt", line=7001, field="caseid")

    with pytest.raises(SourceFormatError, match=r"x.txt, line 7001, field 'caseid'"):
        load_reports(db_engine, broken(), PROV)
    assert _counts(db_engine) == before
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SourceSnapshot)).scalar_one() == 1


def test_rejects_are_counted_not_stored(db_engine: Engine) -> None:
    bad = _report("")
    noprod = _report("9")
    noprod.products = []
    stats = load_reports(db_engine, [bad, noprod, _report("10")], PROV)
    assert (stats.inserted, stats.rejected) == (1, 2)
    assert stats.reject_reasons == {"missing source key": 1, "no product": 1}


def test_duplicate_event_terms_on_one_report_count_once(db_engine: Engine) -> None:
    load_reports(db_engine, [_report("1", terms=("nausea", "nausea"))], PROV)
    assert _counts(db_engine)[2] == 1


def test_paged_imports_get_their_checksum_at_the_end(db_engine: Engine) -> None:
    stats_in: dict[str, object] = {}

    def pages() -> Iterator[CanonicalReport]:
        yield _report("p1")
        stats_in["pages_sha256"] = "ab" * 32  # known only after the last page

    prov = Provenance(source="openfda:/drug/event.json", location="http://x", sha256="")
    stats = load_reports(db_engine, pages(), prov, source_stats=stats_in)
    with db_engine.connect() as conn:
        sha = conn.execute(
            select(SourceSnapshot.sha256).where(SourceSnapshot.id == stats.snapshot_id)
        ).scalar_one()
    assert sha == "ab" * 32
