"""Embedded-mode job tests: SQLite, the in-process pool, and a stand-in pipeline.

The stand-in replaces the analysis pipeline (which needs a loaded store) so a job's
outcome is chosen by its parameters: `mode` = ok | transient (fails its first attempt)
| permanent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Environment, Settings
from cerflow.db import make_session_factory
from cerflow.jobs.context import JobContext, JobResult
from cerflow.jobs.errors import ContendedJobError, PermanentJobError, TransientJobError
from cerflow.jobs.models import FINAL_STATES, Job
from cerflow.jobs.registry import PIPELINES


def stand_in(ctx: JobContext) -> JobResult:
    mode = ctx.params.get("mode", "ok")
    ctx.progress(50, "working")
    if mode == "transient" and ctx.lease.attempt == 1:
        raise TransientJobError("upstream answered 503 (injected)")
    if mode == "contended" and ctx.lease.attempt <= int(ctx.params.get("conflicts", 0)):
        raise ContendedJobError("version 3 was recorded by another report meanwhile (injected)")
    if mode == "permanent":
        raise PermanentJobError("product code XYZ does not exist (injected)")
    return {"mode": mode, "attempt": ctx.lease.attempt}, None


@pytest.fixture
def stand_in_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PIPELINES, "analysis", stand_in)


@pytest.fixture
def embedded_settings(sqlite_engine: Engine, tmp_path: Path) -> Settings:
    """Points at the migrated SQLite file of `sqlite_engine` (tmp_path/cerflow.db)."""
    return Settings(
        environment=Environment.TESTING,
        data_dir=tmp_path,
        database_url="",
        redis_url=None,
        secret_key=SecretStr("embedded-test-secret-" + "z" * 40),
        jobs_retry_backoff_seconds=0.05,
        jobs_retry_backoff_max_seconds=0.1,
        jobs_heartbeat_seconds=0.5,
        jobs_inprocess_workers=2,
    )


@pytest.fixture
def factory(sqlite_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(sqlite_engine)


def wait_until(check: Callable[[], bool], bound: float = 60.0) -> None:
    """Polls until `check()` holds; the bound only stops a broken test from hanging."""
    end = time.monotonic() + bound
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached within the wait bound")
        time.sleep(0.05)


def final_states(factory: sessionmaker[Session], ids: list[str]) -> dict[str, str]:
    with factory() as session:
        return {
            i: job.state
            for i in ids
            if (job := session.get(Job, i)) is not None and job.state in FINAL_STATES
        }
