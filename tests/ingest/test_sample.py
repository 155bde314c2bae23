"""`ingest_sample` through the real readers, ETL and loader into a migrated SQLite store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from cerflow.db import make_engine
from cerflow.ingest.sample import SampleIntegrityError, ingest_sample
from cerflow.sample import SAMPLE_DIR, load_manifest
from cerflow.store import migrate
from cerflow.store.models import Device, Recall, Report, ReportEvent, ReportProduct, SourceSnapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("ingest") / "cerflow.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    result = ingest_sample(engine)
    yield engine, result
    engine.dispose()


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_record_counts_match_manifest(loaded: tuple[Engine, dict[str, Any]]) -> None:
    engine, result = loaded
    manifest = load_manifest(SAMPLE_DIR)
    faers = select(func.count()).select_from(Report).where(Report.source == "faers")
    maude = select(func.count()).select_from(Report).where(Report.source == "maude")
    assert _count(engine, faers) == manifest["faers"]["cases"]
    assert _count(engine, maude) == manifest["maude"]["reports"]
    recalls = sum(f["records"] for f in manifest["recalls"]["files"])
    devices = sum(f["records"] for f in manifest["eudamed"]["files"])
    assert _count(engine, select(func.count()).select_from(Recall)) == recalls
    assert _count(engine, select(func.count()).select_from(Device)) == devices
    assert result["totals"]["rejected"] == 0
    expected = manifest["faers"]["cases"] + manifest["maude"]["reports"] + recalls + devices
    assert result["totals"]["inserted"] == expected


def test_every_snapshot_is_generated(loaded: tuple[Engine, dict[str, Any]]) -> None:
    engine, _ = loaded
    with engine.connect() as conn:
        rows = conn.execute(select(SourceSnapshot.is_generated, SourceSnapshot.query)).all()
    # 14 FAERS quarters, MAUDE, 3 openFDA answers, 2 EUDAMED pages: all generated;
    # plus the bundled drug label, real FDA text (cerflow.sample.labels): not generated.
    assert len(rows) == 14 + 1 + 3 + 2 + 1
    synthetic = [(flag, q) for flag, q in rows if not (q or "").startswith("bundled sample")]
    assert len(synthetic) == 20
    assert all(flag is True for flag, _ in synthetic)
    assert all(q and q.startswith("synthetic sample") for _, q in synthetic)
    (label,) = [(flag, q) for flag, q in rows if (q or "").startswith("bundled sample")]
    assert label[0] is False


def test_planted_signal_survives_the_pipeline(loaded: tuple[Engine, dict[str, Any]]) -> None:
    """Recount the atorvastatin x Rhabdomyolysis cell from the store."""
    engine, _ = loaded
    planted = load_manifest(SAMPLE_DIR)["faers"]["planted"]["signal"]
    stmt = (
        select(func.count(func.distinct(Report.id)))
        .join(ReportProduct, ReportProduct.report_id == Report.id)
        .join(ReportEvent, ReportEvent.report_id == Report.id)
        .where(
            Report.source == "faers",
            ReportProduct.product_key == "ATORVASTATIN",
            ReportProduct.role.in_(("suspect", "interacting")),
            ReportEvent.term == "rhabdomyolysis",
        )
    )
    assert _count(engine, stmt) == planted["a"]
    lzg = load_manifest(SAMPLE_DIR)["maude"]["planted"]["signal"]
    stmt = (
        select(func.count(func.distinct(Report.id)))
        .join(ReportProduct, ReportProduct.report_id == Report.id)
        .join(ReportEvent, ReportEvent.report_id == Report.id)
        .where(
            Report.source == "maude",
            ReportProduct.product_code == "LZG",
            ReportEvent.term == lzg["device_problem"].casefold(),
        )
    )
    assert _count(engine, stmt) == lzg["a"]


def _fingerprint(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return [
            conn.execute(text(sql)).all()
            for sql in (
                "SELECT source, source_key, source_version, content_hash FROM reports "
                "ORDER BY source, source_key",
                "SELECT count(*) FROM report_products",
                "SELECT count(*) FROM report_events",
                "SELECT source, recall_number, content_hash FROM recalls ORDER BY 1, 2",
                "SELECT source, source_uuid, content_hash FROM devices ORDER BY 1, 2",
            )
        ]


def test_second_run_changes_nothing(loaded: tuple[Engine, dict[str, Any]]) -> None:
    engine, _ = loaded
    before = _fingerprint(engine)
    again = ingest_sample(engine)
    assert again["totals"]["inserted"] == 0
    assert again["totals"]["updated"] == 0
    assert again["totals"]["unchanged"] == again["totals"]["read"]
    assert _fingerprint(engine) == before


def test_changed_sample_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, copy)
    target = copy / "openfda/drug_enforcement.json"
    target.write_text(target.read_text().replace("Class I", "Class II", 1))
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(engine)
    try:
        with pytest.raises(SampleIntegrityError, match=r"drug_enforcement\.json"):
            ingest_sample(engine, sample_dir=copy)
        assert _count(engine, select(func.count()).select_from(SourceSnapshot)) == 0
    finally:
        engine.dispose()


def test_bundled_label_is_the_real_lipitor_label(loaded: tuple[Engine, dict[str, Any]]) -> None:
    from cerflow.store.labels import read_label

    engine, result = loaded
    (step,) = result["labels"]
    assert step["file"] == "labels/drug_label_atorvastatin.json"
    label = read_label(engine, ["ATORVASTATIN"])
    assert label is not None
    assert label["set_id"] == "c6e131fe-e7df-4876-83f7-9156fc4e8228"
    assert (label["version"], str(label["effective_date"])) == (11, "2014-01-13")
    assert label["is_generated"] is False
    assert "lipitor-orig.xml" in (label["derived_from"] or "")
    assert set(label["sections"]) == {"warnings_and_cautions", "adverse_reactions"}
