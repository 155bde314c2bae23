"""`cerflow ingest faers`: the summary table and the error line of a malformed zip."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from tests.sources.test_faers_ascii import make_zip


def test_cli_summary_and_error(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        path = shared_data / "faers_ascii" / "faers_ascii_2017q2.zip"
        result = runner.invoke(app, ["ingest", "faers", str(path)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        line = next(x for x in result.stdout.splitlines() if "faers_ascii_2017q2.zip" in x)
        cells = [c.strip() for c in line.replace("\u2502", "|").split("|") if c.strip()]
        # file, DEMO rows, superseded, deleted, read, inserted, updated, unchanged, rejected
        assert cells[1:] == ["100", "0", "0", "100", "100", "0", "0", "0"]
        bad = make_zip(
            tmp_path / "bad.zip",
            {"demo": ["x$100$1"], "drug": [], "reac": []},
        )
        result = runner.invoke(app, ["ingest", "faers", str(bad)], env={"COLUMNS": "200"})
        assert result.exit_code == 1
        assert "ascii/DEMO17Q2.txt" in result.output and "line 2" in result.output
    finally:
        get_settings.cache_clear()
