"""`cerflow signals` / `cerflow trends` on a small SQLite store filled through the ORM."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from tests.analysis.finite import assert_finite
from tests.store.store_rows import seed_small_store

runner = CliRunner()


@pytest.fixture
def store(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    seed_small_store(sqlite_engine)
    monkeypatch.setenv("CERFLOW_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    yield sqlite_engine
    get_settings.cache_clear()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_signals_json_by_hand(store: Engine) -> None:
    out = _json(["signals", "--drug", "aspirin", "--min-count", "1", "--format", "json"])
    assert out["product"]["keys"] == ["ASPIRIN"]
    # Drug reports with a product and an event: R1, R2, R3, R4 (R5 has no event).
    assert out["background_reports"] == 4
    rows = {r["event"]: r for r in out["signals"]}
    assert set(rows) == {"nausea", "headache"}
    # nausea: aspirin in R1, R2 (both nausea): a=2, b=0, c=0, d=2; E = 2*2/4.
    n = rows["nausea"]
    assert (n["a"], n["b"], n["c"], n["d"]) == (2, 0, 0, 2) and n["expected"] == 1.0
    h = rows["headache"]
    assert (h["a"], h["b"], h["c"], h["d"]) == (1, 1, 0, 2) and h["expected"] == 0.5
    assert out["thresholds"]["min_count"] == 1 and out["thresholds"]["prr_min"] == 2.0
    assert_finite(out)
    only_two = _json(["signals", "--drug", "aspirin", "--min-count", "2", "--format", "json"])
    assert [r["event"] for r in only_two["signals"]] == ["nausea"]


def test_signals_csv_and_table(store: Engine) -> None:
    csv = runner.invoke(
        app,
        [
            "signals",
            "--device-code",
            "dqa",
            "--min-count",
            "1",
            "--method",
            "prr,ror",
            "--format",
            "csv",
        ],
    )
    assert csv.exit_code == 0, csv.output
    header, *lines = csv.stdout.strip().splitlines()
    assert header.startswith("product,event,a,b,c,d") and "ebgm" not in header
    assert sorted(line.split(",")[1] for line in lines) == ["burn", "device malfunction"]
    table = runner.invoke(app, ["signals", "--drug", "aspirin", "--min-count", "1"])
    assert table.exit_code == 0 and "nausea" in table.stdout and "not incidence" in table.stdout


def test_trends_json(store: Engine) -> None:
    out = _json(["trends", "--drug", "Aspirin", "--format", "json"])
    assert out["monthly"] == [
        {"month": "2021-01", "count": 1},
        {"month": "2021-02", "count": 1},
        {"month": "2021-03", "count": 1},
    ]
    assert out["coverage"] == {"total": 3, "monthly": 3, "year_only": 0, "undated": 0}
    assert out["mann_kendall"]["trend"] == "no trend" and out["mann_kendall"]["p"] == 1.0
    assert out["forecast"]["method"] == "flat" and len(out["forecast"]["mean"]) == 12
    assert out["forecast"]["months"][0] == "2021-04"
    assert out["anomalies"] == [] and out["change_points"] == []
    assert out["serious_share_by_year"][0]["reports"] == 3
    assert out["serious_share_by_year"][0]["fatal"] == 1
    assert [e["term"] for e in out["top_events"]] == ["nausea", "headache"]
    assert_finite(out)
    device = _json(["trends", "--device-code", "DQA", "--format", "json"])
    assert [m["count"] for m in device["monthly"]] == [1, 1]
    table = runner.invoke(app, ["trends", "--device-code", "DQA"])
    assert table.exit_code == 0 and "Mann-Kendall" in table.stdout


def test_unknown_product_suggests_ingest(store: Engine) -> None:
    result = runner.invoke(app, ["signals", "--drug", "asp"])
    assert result.exit_code == 1
    assert "no reports for drug 'asp'" in result.stderr
    assert "ASPIRIN (3 reports)" in result.stderr and "cerflow ingest" in result.stderr
    missing = runner.invoke(app, ["trends", "--device-code", "XYZ"])
    assert missing.exit_code == 1 and "cerflow ingest" in missing.stderr


def test_bad_arguments(store: Engine) -> None:
    both = runner.invoke(app, ["signals", "--drug", "a", "--device-code", "DQA"])
    assert both.exit_code == 2 and "exactly one" in both.stderr
    neither = runner.invoke(app, ["trends"])
    assert neither.exit_code == 2
    bad = runner.invoke(app, ["signals", "--drug", "aspirin", "--method", "prr,xyz"])
    assert bad.exit_code == 2 and "--method" in bad.stderr


def test_csv_exports_neutralize_formulas(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event name from a public report that is a spreadsheet formula is exported as text."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from tests.store.store_rows import add_report

    formula = '=HYPERLINK("http://evil.example","click")'
    with Session(sqlite_engine) as s:
        for i in range(3):
            add_report(
                s,
                f"F{i}",
                received=dt.date(2021, 1 + i, 1),
                products=[{"role": "suspect", "product_key": "ASPIRIN"}],
                terms=[formula if i else "nausea"],
            )
        s.commit()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    try:
        out = runner.invoke(
            app, ["signals", "--drug", "aspirin", "--min-count", "1", "--format", "csv"]
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "'=HYPERLINK" in out.stdout
    assert not any(
        cell.startswith(("=", "+", "@"))
        for line in out.stdout.splitlines()
        for cell in line.split(",")
    )
