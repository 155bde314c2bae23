"""`cerflow ingest maude` end to end: FDA's real MAUDE files -> real store (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.ingest.maude import ingest_paths
from cerflow.sources.base import SourceFormatError
from cerflow.store.models import Report, ReportProduct, SourceSnapshot


@pytest.fixture
def cli_env(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CERFLOW_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "250")  # keep rich from wrapping paths in messages
    get_settings.cache_clear()
    yield db_engine
    get_settings.cache_clear()


@pytest.fixture
def maude_2014(shared_data: Path) -> Path:
    return shared_data / "openfda_pipeline_tests/maude_2014"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ingest", "maude", *args])
    return result.exit_code, result.output


def _summary_value(output: str, label: str) -> int:
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 3 and cells[1] == label:
            return int(cells[2])
    raise AssertionError(f"{label!r} not in summary:\n{output}")


def _state(engine: Engine) -> tuple[int, int, int, list[tuple[str, str | None, bool | None]]]:
    with Session(engine) as session:
        reports = session.scalar(select(func.count()).select_from(Report)) or 0
        products = session.scalar(select(func.count()).select_from(ReportProduct)) or 0
        snapshots = session.scalar(select(func.count()).select_from(SourceSnapshot)) or 0
        rows = session.execute(
            select(Report.source_key, Report.event_type, Report.serious).order_by(Report.source_key)
        ).all()
    return reports, products, snapshots, [(k, e, s) for k, e, s in rows]


def test_ingest_twice_is_unchanged(cli_env: Engine, maude_2014: Path) -> None:
    code, out = _run(str(maude_2014))
    assert code == 0, out
    assert _summary_value(out, "read") == 2
    assert _summary_value(out, "inserted") == 2
    assert _summary_value(out, "rejected") == 0
    assert _summary_value(out, "orphan rows (no mdrfoi row)") == 3
    with Session(cli_env) as session:
        rep = session.scalars(select(Report).where(Report.source_key == "538836")).one()
        assert (rep.source, rep.kind, rep.event_type, rep.serious) == (
            "maude",
            "device",
            "injury",
            True,
        )
        assert rep.received_date == dt.date(2004, 8, 1)
        assert rep.received_precision == "D"
        assert rep.life_threatening and rep.required_intervention and not rep.death
        codes = session.scalars(select(ReportProduct.product_key).order_by(ReportProduct.id))
        assert sorted(codes) == ["GXI", "JPA"]
        snapshot = session.scalars(select(SourceSnapshot)).one()
        assert snapshot.source == "maude_bulk"
        assert snapshot.record_count == 2
        assert snapshot.stats["source"]["documents"] == 2
        assert snapshot.stats["source"]["orphan_rows"] == 3

    code, out = _run(str(maude_2014))
    assert code == 0, out
    assert _summary_value(out, "read") == 2
    assert _summary_value(out, "inserted") == 0
    assert _summary_value(out, "updated") == 0
    assert _summary_value(out, "unchanged") == 2


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


def test_cli_reports_malformed_file(cli_env: Engine, maude_2014: Path, tmp_path: Path) -> None:
    bad = _malformed_copy(maude_2014, tmp_path / "bad")
    code, out = _run(str(bad))
    assert code == 1
    assert f"{bad / 'foitext.txt'}, line 5, field 'date_report'" in out
    assert "Nothing from this import was stored" in out
    assert _state(cli_env)[:3] == (0, 0, 0)


def test_cli_refuses_unknown_file(cli_env: Engine, tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("x")
    code, out = _run(str(stray))
    assert code == 1
    assert "not a MAUDE bulk file name" in out
