"""Real Celery workers (subprocesses) on the real Redis and the session PostgreSQL.

Each test session uses its own queue names and Redis key prefix, a data directory under
tmp, and a store seeded with a small planted-signal dataset. Workers run as separate
process groups so a test can SIGKILL one whole worker (parent and children).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Environment, Settings
from cerflow.db import make_session_factory
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.models import Job
from tests.conftest import REDIS_TEST_URL
from tests.system.store_seed import seed

TEST_SECRET = "system-test-secret-" + "y" * 40


def job_settings(
    pg_url: str, data_dir: Path, tag: str, redis_url: str = REDIS_TEST_URL
) -> Settings:
    return Settings(
        environment=Environment.TESTING,
        database_url=pg_url,
        redis_url=redis_url,
        redis_key_prefix=f"cerflow-systest:{tag}:",
        celery_queue_prefix=f"systest-{tag}-",
        data_dir=data_dir,
        secret_key=SecretStr(TEST_SECRET),
        jobs_allow_fault_injection=True,
        jobs_retry_backoff_seconds=0.5,
        jobs_retry_backoff_max_seconds=2.0,
        jobs_stale_after_seconds=4.0,
        jobs_heartbeat_seconds=1.0,
        jobs_max_retries=3,
        log_json=True,
        # The seeded store is small (340 reports, 40 of the product): allow SDRs on it.
        background_min_reports=100,
        signal_min_product_reports=20,
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CERFLOW_ENVIRONMENT": "testing",
            "CERFLOW_DATABASE_URL": settings.database_url,
            "CERFLOW_REDIS_URL": settings.redis_url or "",
            "CERFLOW_REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "CERFLOW_CELERY_QUEUE_PREFIX": settings.celery_queue_prefix,
            "CERFLOW_DATA_DIR": str(settings.data_dir),
            "CERFLOW_SECRET_KEY": settings.secret_key.get_secret_value(),
            "CERFLOW_JOBS_ALLOW_FAULT_INJECTION": "true",
            "CERFLOW_JOBS_RETRY_BACKOFF_SECONDS": str(settings.jobs_retry_backoff_seconds),
            "CERFLOW_JOBS_RETRY_BACKOFF_MAX_SECONDS": str(settings.jobs_retry_backoff_max_seconds),
            "CERFLOW_JOBS_STALE_AFTER_SECONDS": str(settings.jobs_stale_after_seconds),
            "CERFLOW_JOBS_HEARTBEAT_SECONDS": str(settings.jobs_heartbeat_seconds),
            "CERFLOW_JOBS_MAX_RETRIES": str(settings.jobs_max_retries),
            "CERFLOW_LOG_JSON": "true",
            "CERFLOW_BACKGROUND_MIN_REPORTS": str(settings.background_min_reports),
            "CERFLOW_SIGNAL_MIN_PRODUCT_REPORTS": str(settings.signal_min_product_reports),
        }
    )
    if settings.llm_base_url:  # the replay LLM, for reports polished in the worker
        env["CERFLOW_LLM_BASE_URL"] = settings.llm_base_url
        env["CERFLOW_LLM_MODEL"] = settings.llm_model
        if settings.llm_api_key is not None:
            env["CERFLOW_LLM_API_KEY"] = settings.llm_api_key.get_secret_value()
    return env


class Workers:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, queues: str = "ingest,analysis,reports", concurrency: int = 1
    ) -> subprocess.Popen[bytes]:
        qs = ",".join(self.settings.celery_queue_prefix + q for q in queues.split(","))
        log = open(self.log_dir / f"worker-{name}-{uuid.uuid4().hex[:4]}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cerflow.jobs.worker",
                "worker",
                "-Q",
                qs,
                "-c",
                str(concurrency),
                "-P",
                "prefork",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--prefetch-multiplier=1",
                "--loglevel=INFO",
            ],
            env=worker_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the whole worker: the parent and its pool children."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)


@pytest.fixture(scope="session")
def seeded_pg(jobs_pg_url: str, jobs_pg_engine: Engine) -> str:
    seed(jobs_pg_engine, prefix="sys")
    return jobs_pg_url


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(seeded_pg: str, tmp_path: Path, tag: str) -> Iterator[Settings]:
    s = job_settings(seeded_pg, tmp_path / "data", tag)
    yield s
    _flush_redis(REDIS_TEST_URL, s)


def _flush_redis(url: str, s: Settings) -> None:
    client = redis.Redis.from_url(url)
    try:
        for q in ("ingest", "analysis", "reports"):
            client.delete(s.celery_queue_prefix + q)
        keys = list(client.scan_iter(match=s.redis_key_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture
def celery_client(settings: Settings) -> Celery:
    return make_celery(settings)


@pytest.fixture
def factory(jobs_pg_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(jobs_pg_engine)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(settings, tmp_path)
    yield w
    w.stop_all()


def wait_for(
    factory: sessionmaker[Session],
    job_id: str,
    states: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
    *,
    bound: float = 180.0,
    between: Callable[[], Any] | None = None,
) -> Job:
    """Poll the job row until it reaches one of `states`; the bound only stops a hung test."""
    deadline = time.monotonic() + bound
    while True:
        with factory() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.state in states:
                session.expunge(job)
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.state} ({job.step}) after {bound}s")
        if between is not None:
            between()
        time.sleep(0.3)
