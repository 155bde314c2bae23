"""`cerflow report` end to end on a small SQLite store (offline), and its error paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.store import migrate
from tests.report import store_factory as sf


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "cli.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    sf.fill(engine)
    engine.dispose()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("CERFLOW_OPENFDA_MAX_RETRIES", "1")
    monkeypatch.delenv("CERFLOW_LLM_BASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_offline_report_writes_facts(store_env: Path) -> None:
    out = store_env / "out"
    result = CliRunner().invoke(
        app,
        ["report", "--drug", "atorvastatin", "--offline", "--format", "json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "facts.json").read_text())
    assert facts["volumes"]["total_reports"] == 5
    assert facts["product"]["product_keys"] == ["ATORVASTATIN"]
    assert "CER-ATORVASTATIN" in result.output


def test_window_options(store_env: Path) -> None:
    out = store_env / "w"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--device-code",
            "LZG",
            "--offline",
            "--since",
            "2024-02-01",
            "--until",
            "2024-12-31",
            "--format",
            "json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "facts.json").read_text())
    assert facts["volumes"]["total_reports"] == 2  # d2, d3
    assert facts["meta"]["since"] == "2024-02-01"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--drug", "zzz", "--offline"], 1, "cerflow ingest openfda"),
        (["--drug", "x", "--device-code", "LZG", "--offline"], 2, "exactly one"),
        (["--drug", "atorvastatin", "--offline", "--format", "pdf,xls"], 2, "xls"),
        (
            [
                "--drug",
                "atorvastatin",
                "--offline",
                "--since",
                "2025-01-01",
                "--until",
                "2024-01-01",
            ],
            2,
            "after",
        ),
    ],
)
def test_errors_are_clear(store_env: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["report", *args, "--out", str(store_env / "e")])
    assert result.exit_code == code
    assert message in result.output
    assert not (store_env / "e" / "facts.json").exists()


def test_unreachable_openfda_suggests_offline(store_env: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--drug", "atorvastatin", "--format", "json", "--out", str(store_env / "n")]
    )
    assert result.exit_code == 1
    assert "--offline" in result.output and "openFDA" in result.output


def test_previous_option_sets_signal_status(
    store_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tiny store is refused as a background by default: relax it to get an SDR.
    for name, value in (
        ("BACKGROUND_MIN_REPORTS", "0"),
        ("SIGNAL_MIN_PRODUCT_REPORTS", "0"),
        ("BACKGROUND_MAX_PRODUCT_SHARE", "1.0"),
        ("SIGNAL_EB05_MIN", "0.5"),
    ):
        monkeypatch.setenv(f"CERFLOW_{name}", value)
    get_settings.cache_clear()
    base = ["report", "--drug", "atorvastatin", "--offline", "--format", "json"]
    first = CliRunner().invoke(app, [*base, "--out", str(store_env / "v1")])
    assert first.exit_code == 0, first.output
    v1 = json.loads((store_env / "v1" / "facts.json").read_text())
    events = [s["event"] for s in v1["signals"]["signals"]]
    assert events and {s["status"] for s in v1["signals"]["signals"]} == {"new"}
    v1["signals"]["signals"][0]["first_detected"] = "2023-01-31"
    (store_env / "v1" / "facts.json").write_text(json.dumps(v1))
    second = CliRunner().invoke(
        app,
        [*base, "--out", str(store_env / "v2"), "--previous", str(store_env / "v1" / "facts.json")],
    )
    assert second.exit_code == 0, second.output
    v2 = json.loads((store_env / "v2" / "facts.json").read_text())
    first_row = next(s for s in v2["signals"]["signals"] if s["event"] == events[0])
    assert (first_row["status"], first_row["first_detected"]) == ("ongoing", "2023-01-31")
    assert v2["signals"]["sdr"]["previous_report"] == v1["meta"]["report_id"]


def test_previous_option_bad_file_is_clear(store_env: Path) -> None:
    bad = store_env / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--drug",
            "atorvastatin",
            "--offline",
            "--previous",
            str(bad),
            "--out",
            str(store_env / "e"),
        ],
    )
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    assert not (store_env / "e" / "facts.json").exists()
