"""`cerflow report --background openfda` and `cerflow ingest openfda-background` end to end:
replay openFDA -> import of one drug -> report against openFDA's whole-database counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from tests.replay.openfda_server import OpenFDAReplayServer
from tests.report.test_openfda_background import hand_made_faers

KEY = "cli-bg-key-3"
runner = CliRunner()
WINDOW = ["--since", "2020-01-01", "--until", "2020-12-31"]


@pytest.fixture
def server(shared_data: Path) -> Iterator[OpenFDAReplayServer]:
    with OpenFDAReplayServer({"/drug/event.json": hand_made_faers(shared_data)}, api_key=KEY) as s:
        yield s


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: OpenFDAReplayServer
) -> Iterator[Path]:
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'bg.db'}")
    monkeypatch.setenv("CERFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", server.base_url)
    monkeypatch.setenv("CERFLOW_OPENFDA_API_KEY", KEY)
    monkeypatch.setenv("CERFLOW_OPENFDA_REQUESTS_PER_MINUTE", "60000")
    monkeypatch.setenv("CERFLOW_OPENFDA_MAX_RETRIES", "1")
    monkeypatch.delenv("CERFLOW_REDIS_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_report_against_openfda(env: Path) -> None:
    out = env / "out"
    args = ["report", "--drug", "atorvastatin", *WINDOW, "--format", "json"]
    result = runner.invoke(app, [*args, "--out", str(out), "--background", "openfda"])
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "facts.json").read_text())
    bg = facts["signals"]["background"]
    assert (bg["source"], bg["reports"], bg["product_reports"]) == ("openfda", 65, 5)
    assert [q["purpose"] for q in bg["queries"]] == ["N", "product", "product-event", "event"]
    assert KEY not in json.dumps(facts)


def test_ingest_background_prints_counts(env: Path, server: OpenFDAReplayServer) -> None:
    result = runner.invoke(app, ["ingest", "openfda-background", "--drug", "atorvastatin", *WINDOW])
    assert result.exit_code == 0, result.output
    assert "N = 65, the drug's reports = 5, event terms = 3" in result.output
    assert KEY not in result.output
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--drug", "x", "--offline", "--background", "faers"], "--background"),
        (["ingest", "openfda-background", "--drug", "x", "--since", "2020-01-01"], "--until"),
    ],
)
def test_bad_input_is_refused(env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
