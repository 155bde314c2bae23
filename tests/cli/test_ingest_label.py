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
