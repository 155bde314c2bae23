"""`cerflow ingest maude` end to end: FDA's real MAUDE files -> real store (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.store.models import Report, ReportProduct, SourceSnapshot
from tests.ingest.test_maude import _malformed_copy, _state


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
