"""`cerflow ingest sample`: a changed sample is refused with the file named, exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.sample import SAMPLE_DIR


def test_cli_refuses_changed_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, copy)
    (copy / "eudamed/devices_udiDiData_LZG.json").unlink()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    from cerflow.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ingest", "sample", "--dir", str(copy)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    output = result.output.replace("\n", "")  # rich wraps long lines
    assert "devices_udiDiData_LZG.json" in output
    assert "missing" in output
    assert "Nothing was imported" in output
