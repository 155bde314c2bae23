"""A real `cerflow worker` process: every line it writes is JSON, and no secret survives.

The worker runs an ingest job whose openFDA client calls the replay server with an API
key (once failing, so the client retries), then fails on purpose with a message holding
a `redis://:pw@host` URL, an `?api_key=` URL and an e-mail address. Before the one
logging set-up, workers wrote plain text with Celery's own formatter and httpx logged
each request URL, key included, at INFO.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cerflow.db import make_session_factory
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.submitters import CelerySubmitter
from cerflow.unit_of_work import unit_of_work
from tests.conftest import REDIS_TEST_URL
from tests.replay.openfda_server import OpenFDAReplayServer
from tests.system.conftest import _flush_redis, job_settings, wait_for, worker_env
from tests.system.stack import cerflow_command

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OPENFDA_KEY = "worker-openfda-key-8675309"
REDIS_PW = "redis-pw-in-worker-5551212"
EMAIL = "jane.doe@example.org"
# Celery writes these fixed notices from its signal handlers straight to the process's
# original stdout (os.write, no logging): the only lines that are not JSON.
CELERY_SIGNAL_NOTICE = re.compile(r"^worker: (Warm|Cold|Soft) shutdown \(MainProcess\)$")


def test_worker_log_lines_are_json_and_carry_no_secret(
    jobs_pg_url: str, jobs_pg_engine: Engine, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    settings = job_settings(jobs_pg_url, tmp_path / "data", tag)
    factory = make_session_factory(jobs_pg_engine)
    log_path = tmp_path / "worker.log"
    message = (
        f"cannot reach redis://:{REDIS_PW}@cache.internal:6379/0 after "
        f"GET https://api.fda.gov/device/event.json?api_key={OPENFDA_KEY}; tell {EMAIL}"
    )
    with OpenFDAReplayServer(api_key=OPENFDA_KEY) as replay:
        replay.fail_next(500)  # the client retries: a warning line from the worker
        env = {
            **worker_env(settings),
            "CERFLOW_OPENFDA_BASE_URL": replay.base_url,
            "CERFLOW_OPENFDA_API_KEY": OPENFDA_KEY,
        }
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [*cerflow_command(), "worker", "--queues", "ingest", "--concurrency", "1",
                 "--metrics-port", "0", "--loglevel", "INFO"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            submitter = CelerySubmitter(settings, app=make_celery(settings))
            with unit_of_work(factory) as session:
                handle = submitter.submit(
                    session=session,
                    kind="ingest",
                    payload={
                        "product_kind": "device",
                        "product_ref": "LQT",
                        "recalls": False,
                        "_fault": {"step": "end", "permanent": message},
                    },
                    requested_by=None,
                    idempotency_key=None,
                )
            job = wait_for(factory, handle.id, bound=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            _flush_redis(REDIS_TEST_URL, settings)
        keyed = [r for r in replay.requests if r.params.get("api_key") == OPENFDA_KEY]
    assert job.state == "failed", job.error
    assert keyed, (
        job.error,
        replay.requests,
        "the worker's openFDA client never sent its key: the test proves nothing",
    )

    text = log_path.read_text()
    for secret in (OPENFDA_KEY, REDIS_PW, EMAIL):
        assert secret not in text, f"{secret!r} in the worker's log output"
    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        if raw.strip() and not CELERY_SIGNAL_NOTICE.match(raw):
            assert raw.startswith("{"), raw
            lines.append(json.loads(raw))  # every line, Celery's own included, is JSON
    assert not any("HTTP Request" in str(ln.get("event")) for ln in lines)
    job_lines = [ln for ln in lines if ln.get("job_id") == handle.id]
    assert {ln["event"] for ln in job_lines} >= {"job_started", "job_failed"}
    assert all(ln.get("job_type") == "ingest" and ln["process"] == "worker" for ln in job_lines)
    failed = next(ln for ln in job_lines if ln["event"] == "job_failed")
    assert "j***@example.org" in failed["error"]
    assert any(ln.get("logger", "").startswith("celery") for ln in lines)
