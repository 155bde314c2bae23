"""MAUDE imports (`ingest.maude`): a malformed file leaves the store as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cerflow.ingest.maude import ingest_paths
from cerflow.sources.base import SourceFormatError
from cerflow.store.models import Report, ReportProduct, SourceSnapshot


@pytest.fixture
def maude_2014(shared_data: Path) -> Path:
    return shared_data / "openfda_pipeline_tests/maude_2014"


def _state(engine: Engine) -> tuple[int, int, int, list[tuple[str, str | None, bool | None]]]:
    with Session(engine) as session:
        reports = session.scalar(select(func.count()).select_from(Report)) or 0
        products = session.scalar(select(func.count()).select_from(ReportProduct)) or 0
        snapshots = session.scalar(select(func.count()).select_from(SourceSnapshot)) or 0
        rows = session.execute(
            select(Report.source_key, Report.event_type, Report.serious).order_by(Report.source_key)
        ).all()
    return reports, products, snapshots, [(k, e, s) for k, e, s in rows]


def _malformed_copy(src: Path, dst: Path) -> Path:
    """The 2014 set with event types changed and a bad date on the text file's last line."""
    dst.mkdir()
    for name in ("foidev.txt", "patient.txt"):
        shutil.copy(src / name, dst / name)
    mdrfoi = (src / "mdrfoi.txt").read_bytes().replace(b"||R||IN", b"||R||D")
    (dst / "mdrfoi.txt").write_bytes(mdrfoi)
    lines = (src / "foitext.txt").read_bytes().rstrip(b"\r\n").split(b"\n")
    lines[-1] = lines[-1].replace(b"|1||", b"|1|31/31/2009|", 1)
    (dst / "foitext.txt").write_bytes(b"\n".join(lines) + b"\n")
    return dst


def test_malformed_file_leaves_store_unchanged(
    db_engine: Engine, maude_2014: Path, tmp_path: Path
) -> None:
    ingest_paths(db_engine, [maude_2014])
    before = _state(db_engine)
    assert before[0] == 2 and before[3][0][1] == "injury"
    bad = _malformed_copy(maude_2014, tmp_path / "bad")
    with pytest.raises(SourceFormatError) as info:
        ingest_paths(db_engine, [bad])
    assert (info.value.location, info.value.line, info.value.field) == (
        str(bad / "foitext.txt"),
        5,
        "date_report",
    )
    assert _state(db_engine) == before  # no report changed to death, no snapshot row
