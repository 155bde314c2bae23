"""Acceptance of the job layer with real Celery workers, Redis and PostgreSQL."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.jobs.models import Job
from cerflow.jobs.submitters import CelerySubmitter
from cerflow.jobs.sweeper import sweep
from cerflow.reports.models import CerReport
from cerflow.unit_of_work import unit_of_work
from tests.system.conftest import Workers, job_settings, wait_for
from tests.system.store_seed import SIGNAL_CODE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _user(
    factory: sessionmaker[Session], settings: Settings, role: Role = Role.ANALYST
) -> tuple[int, str]:
    email = f"sys-{uuid.uuid4().hex[:8]}@example.org"
    with unit_of_work(factory) as session:
        user = auth_service.create_user(
            session=session, email=email, password="pw-" + "z" * 20, role=role
        )
        pair = auth_service.issue_tokens(session=session, settings=settings, user=user)
        return user.id, pair.access_token


def _submit(
    factory: sessionmaker[Session],
    submitter: CelerySubmitter,
    owner: int | None,
    params: dict[str, Any],
    key: str | None = None,
    kind: str = "report",
) -> str:
    with unit_of_work(factory) as session:
        handle = submitter.submit(
            session=session, kind=kind, payload=params, requested_by=owner, idempotency_key=key
        )
    return handle.id


def _report_count(factory: sessionmaker[Session], job_id: str) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(CerReport).where(CerReport.job_id == job_id)
            )
            or 0
        )


REPORT = {"product_kind": "device", "product_ref": SIGNAL_CODE, "formats": ["json"]}


def test_report_job_progress_through_api_and_websocket(
    settings: Settings, factory: sessionmaker[Session], workers: Workers, celery_client: Celery
) -> None:
    user_id, token = _user(factory, settings)
    app = create_app(settings, job_submitter=CelerySubmitter(settings, app=celery_client))
    workers.start("w1")
    headers = {"Authorization": f"Bearer {token}"}
    with (
        TestClient(app) as client,
        client.websocket_connect(f"/api/v1/ws/alerts?token={token}") as ws,
    ):
        assert ws.receive_json()["type"] == "ready"
        body = {
            "product_ref": SIGNAL_CODE,
            "formats": ["json"],
        }
        created = client.post("/api/v1/reports", json=body, headers=headers)
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        seen: list[dict[str, Any]] = []
        while True:
            event = ws.receive_json()
            assert event["user_id"] == user_id
            if event.get("job_id") == job_id:
                seen.append(event)
            if event.get("job_id") == job_id and event.get("state") in ("succeeded", "failed"):
                break
        assert seen[-1]["state"] == "succeeded", seen[-1]
        progress = [e["progress"] for e in seen if e["type"] == "job.progress"]
        assert progress and progress == sorted(progress) and 0 < progress[0] < 100
        status = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        assert status["state"] == "succeeded" and status["progress"] == 100
        assert status["attempts"] == 1
        alias = client.get(f"/api/tasks/{job_id}", headers=headers).json()
        assert alias["id"] == job_id and alias["state"] == "succeeded"
        report = client.get(f"/api/v1/reports/{job_id}", headers=headers).json()
        assert report["formats"] == ["json"] and report["product_ref"] == SIGNAL_CODE
        download = client.get(f"/api/v1/reports/{job_id}/download/json", headers=headers)
        assert download.status_code == 200
        facts = download.json()
        assert facts["volumes"]["total_reports"] == 40  # planted: 40 PSG reports
        assert [s["event"].lower() for s in facts["signals"]["signals"]] == ["thermal burn"]
        # The worker kept the database-wide signal run for the next report on this data.
        # files only: the store-wide totals sit in their own totals/ folder beside them
        signals = settings.data_dir / "cache" / "signals"
        cached = {p.suffix for p in signals.iterdir() if p.is_file()}
        assert cached == {".json", ".parquet"}
        # The same create request twice (same Idempotency-Key) gives one job.
        h2 = {**headers, "Idempotency-Key": "same-request-1"}
        first = client.post("/api/v1/reports", json=body, headers=h2).json()["job_id"]
        second = client.post("/api/v1/reports", json=body, headers=h2).json()["job_id"]
        assert first == second
        with factory() as session:
            n = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.idempotency_key.like("%same-request-1"))
            )
        assert n == 1
    assert _report_count(factory, job_id) == 1


def test_transient_failure_retried_then_succeeds_permanent_fails_once(
    settings: Settings, factory: sessionmaker[Session], workers: Workers, celery_client: Celery
) -> None:
    submitter = CelerySubmitter(settings, app=celery_client)
    workers.start("w1")
    flaky = _submit(factory, submitter, None, {**REPORT, "_fault": {"transient_attempts": 2}})
    broken = _submit(
        factory,
        submitter,
        None,
        {**REPORT, "_fault": {"permanent": "the product code is withdrawn"}},
    )
    ok = wait_for(factory, flaky)
    assert ok.state == "succeeded" and ok.attempts == 3
    assert _report_count(factory, flaky) == 1
    bad = wait_for(factory, broken)
    assert bad.state == "failed" and bad.attempts == 1
    assert bad.error == "the product code is withdrawn"
    assert _report_count(factory, broken) == 0


def test_unknown_product_fails_at_once_with_a_clear_message(
    settings: Settings, factory: sessionmaker[Session], workers: Workers, celery_client: Celery
) -> None:
    submitter = CelerySubmitter(settings, app=celery_client)
    workers.start("w1")
    job_id = _submit(factory, submitter, None, {**REPORT, "product_ref": "ZZZ"})
    job = wait_for(factory, job_id)
    assert job.state == "failed" and job.attempts == 1
    assert job.error is not None and "ZZZ" in job.error and "import them first" in job.error


def test_worker_killed_mid_report_job_completes_elsewhere_once(
    settings: Settings, factory: sessionmaker[Session], workers: Workers, celery_client: Celery
) -> None:
    submitter = CelerySubmitter(settings, app=celery_client)
    first = workers.start("doomed", queues="reports")
    job_id = _submit(factory, submitter, None, {**REPORT, "_fault": {"delay": {"render": 6}}})
    running = wait_for(factory, job_id, ("running",))
    while True:  # wait until it is past the facts step, in the slow render step
        with factory() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.progress >= 40:
                break
        time.sleep(0.2)
    workers.kill(first)
    assert running.attempts == 1
    workers.start("rescuer", queues="reports")
    done = wait_for(
        factory,
        job_id,
        between=lambda: sweep(settings=settings, factory=factory, app=celery_client),
    )
    assert done.state == "succeeded"
    assert done.attempts == 2
    assert _report_count(factory, job_id) == 1
    out = settings.data_dir / "reports"
    names = sorted(p.name for p in out.iterdir())
    # The jobs database is shared by the system tests, and a worker's sweeper may legitimately
    # finish another test's stale job into this data dir; what matters here is this job's one
    # directory and no temp directory left by the killed attempt.
    assert job_id in names
    assert [n for n in names if n.startswith(".")] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    client.close()
    return proc


def test_jobs_queued_when_redis_restarts_complete_after_it_returns(
    seeded_pg: str, tmp_path: Path, factory: sessionmaker[Session], tag: str
) -> None:
    from cerflow.jobs.celery_app import make_celery

    port = _free_port()
    server = _redis_server(port, tmp_path)
    settings = job_settings(
        seeded_pg, tmp_path / "data", tag, redis_url=f"redis://127.0.0.1:{port}/0"
    )
    app = make_celery(settings)
    submitter = CelerySubmitter(settings, app=app)
    workers = Workers(settings, tmp_path)
    try:
        ids = [_submit(factory, submitter, None, REPORT) for _ in range(3)]
        import redis

        client = redis.Redis(port=port)
        assert client.llen(settings.celery_queue_prefix + "reports") == 3
        client.close()
        server.terminate()  # no persistence: the queue is gone
        server.wait(timeout=10)
        server = _redis_server(port, tmp_path)
        client = redis.Redis(port=port)
        assert client.llen(settings.celery_queue_prefix + "reports") == 0
        client.close()
        workers.start("after-restart", queues="reports")
        done = [
            wait_for(factory, i, between=lambda: sweep(settings=settings, factory=factory, app=app))
            for i in ids
        ]
        assert [j.state for j in done] == ["succeeded"] * 3
        assert [_report_count(factory, i) for i in ids] == [1, 1, 1]
    finally:
        workers.stop_all()
        server.terminate()
        server.wait(timeout=10)


def test_cancel_stops_a_running_job(
    settings: Settings, factory: sessionmaker[Session], workers: Workers, celery_client: Celery
) -> None:
    user_id, token = _user(factory, settings)
    app = create_app(settings, job_submitter=CelerySubmitter(settings, app=celery_client))
    workers.start("w1", queues="reports")
    job_id = _submit(
        factory,
        CelerySubmitter(settings, app=celery_client),
        user_id,
        {**REPORT, "_fault": {"delay": {"render": 30}}},
    )
    wait_for(factory, job_id, ("running",))
    with TestClient(app) as client:
        resp = client.post(
            f"/api/v1/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200 and resp.json()["state"] == "cancelled"
        again = client.post(
            f"/api/v1/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {token}"}
        )
        assert again.status_code == 409
    time.sleep(3)  # let the worker notice at its next heartbeat
    job = wait_for(factory, job_id)
    assert job.state == "cancelled"
    assert _report_count(factory, job_id) == 0
    assert json.dumps(job.params)  # params kept for a retry
