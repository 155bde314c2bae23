"""`cerflow beat --schedule` and the worker's options, without starting Celery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cerflow.cli import app, worker
from cerflow.config import Settings
from cerflow.jobs import worker as worker_entry


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    calls: list[list[str]] = []
    settings = Settings(data_dir=tmp_path / "data", redis_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(worker, "get_settings", lambda: settings)
    monkeypatch.setattr(worker_entry.app, "start", lambda argv: calls.append(list(argv)))

    def fake_main(argv: Any) -> None:
        calls.append(list(argv))

    monkeypatch.setattr(worker_entry.app, "worker_main", fake_main)
    return calls


def test_beat_keeps_its_schedule_under_the_data_dir_by_default(
    started: list[list[str]], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["beat"])
    assert result.exit_code == 0, result.output
    expected = tmp_path / "data" / "beat" / "celerybeat-schedule"
    assert started == [
        [
            "beat",
            "--loglevel=INFO",
            f"--schedule={expected}",
            "--scheduler=cerflow.jobs.liveness:TouchingScheduler",  # touches beat-alive
        ]
    ]
    assert expected.parent.is_dir()
    assert list(expected.parent.iterdir()) == []  # the write probe is removed


def test_beat_schedule_path_is_passed_through(started: list[list[str]], tmp_path: Path) -> None:
    path = tmp_path / "state" / "sched"
    result = CliRunner().invoke(app, ["beat", "--schedule", str(path)])
    assert result.exit_code == 0, result.output
    assert f"--schedule={path}" in started[0]


def test_beat_refuses_a_schedule_directory_it_cannot_create(
    started: list[list[str]], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    result = CliRunner().invoke(app, ["beat", "--schedule", str(blocker / "s")])
    assert result.exit_code == 2
    assert f"beat cannot write its schedule file in {blocker}" in result.output
    assert "--schedule PATH" in result.output
    assert started == []


def test_worker_without_metrics_port_serves_none(started: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["worker", "--queues", "analysis"])
    assert result.exit_code == 0, result.output
    assert started[0][0] == "worker" and "--queues=analysis" in started[0]
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_json_logs_start_worker_and_beat_quiet_at_the_settings_level(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With JSON logs Celery's plain-text banner is off; the level is CERFLOW_LOG_LEVEL."""
    settings = Settings(
        data_dir=tmp_path / "data",
        redis_url="redis://127.0.0.1:1/0",
        log_json=True,
        log_level="WARNING",
    )
    monkeypatch.setattr(worker, "get_settings", lambda: settings)
    assert CliRunner().invoke(app, ["beat"]).exit_code == 0
    assert CliRunner().invoke(app, ["worker", "--queues", "ingest"]).exit_code == 0
    beat_argv, worker_argv = started
    assert beat_argv[:3] == ["--quiet", "beat", "--loglevel=WARNING"]
    assert worker_argv[:2] == ["--quiet", "worker"] and "--loglevel=WARNING" in worker_argv
