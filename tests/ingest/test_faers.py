"""FAERS quarter imports (`ingest.faers`) on SQLite and PostgreSQL: counts, idempotency,
updates, and a failed import leaving the store unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cerflow.config import get_settings
from cerflow.ingest import IngestError, IngestInputError
from cerflow.ingest.faers import ingest_quarters, ingest_zip
from cerflow.store.models import Report, ReportEvent, ReportProduct, SourceSnapshot
from tests.sources.test_faers_ascii import _raw_table, demo_row, drug_row, make_zip


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            m.__tablename__: int(conn.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Report, ReportProduct, ReportEvent, SourceSnapshot)
        }


def test_real_zips_every_report_accounted_for(db_engine: Engine, shared_data: Path) -> None:
    expected_products = 0
    for name in ("aers_ascii_2004q1.zip", "faers_ascii_2017q2.zip"):
        path = shared_data / "faers_ascii" / name
        demo_rows = len(_raw_table(path, "DEMO"))
        expected_products += len(_raw_table(path, "DRUG"))
        load, src = ingest_zip(db_engine, path)
        assert (
            load.inserted
            + load.rejected
            + src["superseded"]
            + src["deleted"]
            + src["duplicate_primaryid"]
            == demo_rows
        )
        assert (load.inserted, load.updated, load.rejected) == (100, 0, 0)
    counts = _counts(db_engine)
    assert counts["reports"] == 200 and counts["source_snapshots"] == 2
    assert counts["report_products"] == expected_products  # 386 + 328 DRUG rows
    with db_engine.connect() as conn:
        row = conn.execute(
            select(Report.received_date, Report.event_precision, Report.sex, Report.country).where(
                Report.source == "faers", Report.source_key == "11563062"
            )
        ).one()
        keys = (
            conn.execute(
                select(ReportProduct.product_key)
                .join(Report)
                .where(Report.source_key == "11563062")
                .order_by(ReportProduct.seq)
            )
            .scalars()
            .all()
        )
    assert (str(row[0]), row[1], row[2], row[3]) == ("2015-09-28", "M", "F", "US")
    assert keys[0] == "TOFACITINIB" and keys[-1] == "CETIRIZINE"


def test_same_zip_twice_changes_nothing(db_engine: Engine, shared_data: Path) -> None:
    path = shared_data / "faers_ascii" / "faers_ascii_2017q2.zip"
    ingest_zip(db_engine, path)
    before = _counts(db_engine)
    load, _ = ingest_zip(db_engine, path)
    assert (load.inserted, load.updated, load.unchanged) == (0, 0, 100)
    after = _counts(db_engine)
    assert {k: v for k, v in after.items() if k != "source_snapshots"} == {
        k: v for k, v in before.items() if k != "source_snapshots"
    }


def test_newer_caseversion_in_later_file_updates(db_engine: Engine, tmp_path: Path) -> None:
    q1 = make_zip(
        tmp_path / "q1.zip",
        {
            "demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1)],
            "drug": [
                drug_row(1001, 100, 1, "PS", "A", "ASPIRIN"),
                drug_row(2001, 200, 1, "PS", "B", "WARFARIN"),
            ],
            "reac": ["1001$100$Rash$", "2001$200$Bleeding$"],
        },
        quarter="17Q1",
    )
    q2 = make_zip(
        tmp_path / "q2.zip",
        {
            "demo": [demo_row(1002, 100, 2)],
            "drug": [
                drug_row(1002, 100, 1, "PS", "A", "ASPIRIN"),
                drug_row(1002, 100, 2, "C", "C", "OMEPRAZOLE"),
            ],
            "reac": ["1002$100$Rash$", "1002$100$Death$"],
            "outc": ["1002$100$DE"],
        },
        quarter="17Q2",
    )
    assert ingest_zip(db_engine, q1)[0].inserted == 2
    load, _ = ingest_zip(db_engine, q2)
    assert (load.inserted, load.updated) == (0, 1)
    with db_engine.connect() as conn:
        version, record_id, death = conn.execute(
            select(Report.source_version, Report.source_record_id, Report.death).where(
                Report.source_key == "100"
            )
        ).one()
        n_products = conn.execute(
            select(func.count())
            .select_from(ReportProduct)
            .join(Report)
            .where(Report.source_key == "100")
        ).scalar_one()
    assert (version, record_id, death, n_products) == (2, "1002", True, 2)
    assert ingest_zip(db_engine, q1)[0].updated == 0  # older version never overwrites


@pytest.mark.parametrize(
    "tables",
    [
        {"reac": ["1001$100$Rash$", "1x01$100$Rash$"]},  # bad primaryid (reader)
        {"demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1, event_dt="20179999")]},  # ETL
    ],
)
def test_failed_import_leaves_store_unchanged(
    db_engine: Engine, shared_data: Path, tmp_path: Path, tables: dict[str, list[str]]
) -> None:
    from cerflow.sources.base import SourceFormatError

    ingest_zip(db_engine, shared_data / "faers_ascii" / "aers_ascii_2004q1.zip")
    before = _counts(db_engine)
    base: dict[str, list[str]] = {
        "demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1)],
        "drug": [drug_row(1001, 100, 1, "PS", "A", "A"), drug_row(2001, 200, 1, "PS", "B", "B")],
        "reac": ["1001$100$Rash$"],
    }
    bad = make_zip(tmp_path / "bad.zip", base | tables)
    with pytest.raises(SourceFormatError):
        ingest_zip(db_engine, bad)
    assert _counts(db_engine) == before


def test_progress_callback_and_errors_for_callers(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """What the CLI and jobs rely on: (step, n, total) progress, a missing file refused before
    anything is read, and a malformed zip named in an IngestError that keeps the done files."""
    calls: list[tuple[str, int, int | None]] = []
    good = shared_data / "faers_ascii" / "faers_ascii_2017q2.zip"
    with pytest.raises(IngestInputError, match=r"nope\.zip: no such file"):
        ingest_quarters(db_engine, [good, tmp_path / "nope.zip"])
    assert _counts(db_engine)["source_snapshots"] == 0

    bad = make_zip(tmp_path / "bad.zip", {"demo": ["x$100$1"], "drug": [], "reac": []})
    with pytest.raises(
        IngestError, match=r"(?s)bad\.zip.*Nothing from this file was stored"
    ) as info:
        ingest_quarters(db_engine, [good, bad], progress=lambda *c: calls.append(c))
    assert [r.name for r in info.value.done] == ["faers_ascii_2017q2.zip"]
    loading = [c for c in calls if c[0] == "faers_ascii_2017q2.zip: loading"]
    assert loading[0] == ("faers_ascii_2017q2.zip: loading", 0, 100)
    assert sum(n for _, n, _ in loading) == 100


def test_zip_bomb_is_refused_and_leaves_store_unchanged(
    db_engine: Engine, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cerflow.sources.limits import SourceLimitError

    ingest_zip(db_engine, shared_data / "faers_ascii" / "aers_ascii_2004q1.zip")
    before = _counts(db_engine)
    bomb = make_zip(
        tmp_path / "bomb.zip",
        {
            "demo": [demo_row(1001, 100, 1), "0" * 200_000],  # one endless line
            "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
            "reac": ["1001$100$Rash$"],
        },
    )
    monkeypatch.setenv("CERFLOW_SOURCE_MAX_LINE_BYTES", "65536")
    get_settings.cache_clear()
    try:
        with pytest.raises(SourceLimitError, match="CERFLOW_SOURCE_MAX_LINE_BYTES"):
            ingest_zip(db_engine, bomb)
    finally:
        get_settings.cache_clear()
    assert _counts(db_engine) == before
