"""`cerflow ingest label --drug X`: replay server (real Lipitor/Humira labels) -> store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.store.labels import read_label
from tests.replay.labels import LIPITOR_SET_ID, label_records
from tests.replay.openfda_server import OpenFDAReplayServer

KEY = "cli-label-key-9"
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> Iterator[str]:
    with OpenFDAReplayServer({"/drug/label.json": label_records(shared_data)}, api_key=KEY) as srv:
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        monkeypatch.setenv("CERFLOW_DATABASE_URL", url)
        monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", srv.base_url)
        monkeypatch.setenv("CERFLOW_OPENFDA_API_KEY", KEY)
        monkeypatch.setenv("CERFLOW_OPENFDA_REQUESTS_PER_MINUTE", "60000")
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def test_ingest_label_then_report_reads_it(db_url: str) -> None:
    result = runner.invoke(app, ["ingest", "label", "--drug", "atorvastatin"])
    assert result.exit_code == 0, result.output
    assert "LIPITOR (ATORVASTATIN CALCIUM)" in result.output
    assert LIPITOR_SET_ID in result.output
    assert KEY not in result.output
    engine = create_engine(db_url)
    try:
        label = read_label(engine, ["ATORVASTATIN"])
    finally:
        engine.dispose()
    assert label is not None and label["version"] == 11


def test_bad_input_exits_2_with_the_reason(db_url: str) -> None:
    result = runner.invoke(app, ["ingest", "label", "--drug", "nosuchdrug"])
    assert result.exit_code == 2
    assert "openFDA has no drug label for 'nosuchdrug'" in result.output
    result = runner.invoke(app, ["ingest", "label"])
    assert result.exit_code == 2
    assert "--drug NAME or --set-id" in result.output


def test_online_report_fetches_the_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """`cerflow report --drug X` (not --offline) refreshes the drug's label too."""
    import json

    from cerflow.db import make_engine
    from cerflow.store import migrate
    from tests.report import store_factory as sf

    db = tmp_path / "report.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    sf.fill(engine)
    engine.dispose()
    with OpenFDAReplayServer({"/drug/label.json": label_records(shared_data)}) as srv:
        monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{db}")
        monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", srv.base_url)
        monkeypatch.setenv("CERFLOW_OPENFDA_REQUESTS_PER_MINUTE", "60000")
        monkeypatch.delenv("CERFLOW_LLM_BASE_URL", raising=False)
        get_settings.cache_clear()
        try:
            out = tmp_path / "out"
            args = ["report", "--drug", "atorvastatin", "--format", "json", "--out", str(out)]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            assert srv.requests_to("/drug/label.json")
            facts = json.loads(next(out.rglob("facts.json")).read_text())
            assert facts["labelling"]["set_id"] == LIPITOR_SET_ID
            # no label at openFDA: the report is still written, with a warning
            srv.set_records("/drug/label.json", [])
            result = runner.invoke(app, [*args[:-1], str(tmp_path / "out2")])
            assert result.exit_code == 0, result.output
            assert "drug label not updated" in result.output
        finally:
            get_settings.cache_clear()
