"""`cerflow ingest openfda` end to end: replay server -> client -> ETL -> SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.store.models import Recall, Report, ReportProduct, SourceSnapshot
from tests.replay.openfda_server import OpenFDAReplayServer, build_dataset

KEY = "cli-secret-key-42"
runner = CliRunner()


@pytest.fixture
def server(shared_data: Path) -> Iterator[OpenFDAReplayServer]:
    data = build_dataset(shared_data, drug_events=40, device_events=12, device_recalls=6)
    with OpenFDAReplayServer(data, api_key=KEY) as srv:
        yield srv


@pytest.fixture
def db_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: OpenFDAReplayServer
) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CERFLOW_DATABASE_URL", url)
    monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", server.base_url)
    monkeypatch.setenv("CERFLOW_OPENFDA_API_KEY", KEY)
    monkeypatch.setenv("CERFLOW_OPENFDA_REQUESTS_PER_MINUTE", "60000")
    monkeypatch.setenv("CERFLOW_OPENFDA_MAX_RETRIES", "2")
    monkeypatch.setenv("COLUMNS", "200")  # the summary table on one line per row
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _count(url: str, stmt: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


def test_drug_import_then_rerun_is_idempotent(db_url: str, server: OpenFDAReplayServer) -> None:
    args = ["ingest", "openfda", "--drug", "ascorbic acid", "--since", "2020-01-01"]
    result = runner.invoke(app, [*args, "--until", "2020-12-31"])
    assert result.exit_code == 0, result.output
    assert "openFDA import" in result.output
    # 40 generated reports alternate the two real documents: 20 name ascorbic acid
    assert _count(db_url, select(func.count()).select_from(Report)) == 20
    suspects = (
        select(func.count())
        .select_from(ReportProduct)
        .where(ReportProduct.product_key == "ASCORBIC ACID", ReportProduct.role == "suspect")
    )
    assert _count(db_url, suspects) == 20
    assert KEY not in result.output
    searches = {r.params.get("search", "") for r in server.requests_to("/drug/event.json")}
    assert any("receivedate:[20200101 TO 20201231]" in s for s in searches)
    # enforcement searched by the same name (none match: the example is terbinafine)
    assert server.requests_to("/drug/enforcement.json")

    engine = create_engine(db_url)
    with engine.connect() as conn:
        snap = conn.execute(
            select(SourceSnapshot).where(SourceSnapshot.source == "openfda:/drug/event.json")
        ).one()
    engine.dispose()
    stats = snap.stats if isinstance(snap.stats, dict) else json.loads(snap.stats)
    assert stats["load"]["inserted"] == 20 and stats["source"]["matched"] == 20
    pages = stats["source"]["pages"]
    assert pages and all("api_key=REDACTED" in p["url"] and len(p["sha256"]) == 64 for p in pages)
    assert len(stats["source"]["pages_sha256"]) == 64
    assert KEY not in json.dumps(stats) and KEY not in (snap.location or "")

    again = runner.invoke(app, [*args, "--until", "2020-12-31"])
    assert again.exit_code == 0, again.output
    assert _count(db_url, select(func.count()).select_from(Report)) == 20
    assert _row(again.output, "drug events") == ["20", "20", "0", "0", "20", "0"]


def _row(output: str, name: str) -> list[str]:
    for line in output.splitlines():
        if line.startswith("│") and name in line:
            return [c.strip() for c in line.strip("│┃ ").split("│")][1:]
    return []


def test_device_import_with_recalls(db_url: str, server: OpenFDAReplayServer) -> None:
    result = runner.invoke(app, ["ingest", "openfda", "--device-code", "niq"])
    assert result.exit_code == 0, result.output
    # 12 device events alternate NIQ/DQA; 6 recalls alternate FOZ/NIQ; 4 device
    # enforcement reports alternate FOZ/NIQ
    assert _count(db_url, select(func.count()).select_from(Report)) == 6
    assert _row(result.output, "device events")[:3] == ["6", "6", "6"]
    recalls = select(func.count()).select_from(Recall)
    assert _count(db_url, recalls.where(Recall.source == "device_recall")) == 3
    assert _count(db_url, recalls.where(Recall.source == "device_enforcement")) == 2
    searches = [r.params["search"] for r in server.requests_to("/device/event.json")]
    assert searches[0] == "device.device_report_product_code:NIQ"  # the total, for progress
    assert searches[1].startswith("device.device_report_product_code:NIQ AND date_received:[")


def test_several_codes_and_no_recalls(db_url: str, server: OpenFDAReplayServer) -> None:
    result = runner.invoke(
        app, ["ingest", "openfda", "--device-code", "NIQ", "--device-code", "DQA", "--no-recalls"]
    )
    assert result.exit_code == 0, result.output
    assert _count(db_url, select(func.count()).select_from(Report)) == 12
    assert not server.requests_to("/device/recall.json")
    raw = server.requests_to("/device/event.json")[0].raw_query
    assert "device.device_report_product_code:(NIQ+OR+DQA)" in raw


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--drug", "x", "--device-code", "NIQ"],
        ["--device-code", "TOOLONG"],
        ["--drug", "x", "--since", "2021-01-01", "--until", "2020-01-01"],
    ],
)
def test_bad_arguments_exit_2(db_url: str, args: list[str]) -> None:
    result = runner.invoke(app, ["ingest", "openfda", *args])
    assert result.exit_code == 2, result.output


def test_openfda_failure_stores_nothing_and_hides_key(
    db_url: str, server: OpenFDAReplayServer
) -> None:
    server.fail_next(500, times=1000, path="/drug/event.json")
    result = runner.invoke(app, ["ingest", "openfda", "--drug", "ascorbic acid"])
    assert result.exit_code == 1
    assert (
        "drug events" in result.output and "Nothing from this dataset was stored" in result.output
    )
    assert "REDACTED" in result.output and KEY not in result.output
    assert _count(db_url, select(func.count()).select_from(Report)) == 0
    assert len(server.requests_to("/drug/event.json")) == 3  # 1 + 2 retries
