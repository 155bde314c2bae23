"""The worker's health/metrics port: called directly, and served by a real worker process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Environment, Settings
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.health_server import HealthServer, serve_worker_health
from cerflow.jobs.metrics import JOBS_FINISHED
from cerflow.jobs.submitters import CelerySubmitter
from cerflow.unit_of_work import unit_of_work
from tests.conftest import REDIS_TEST_URL
from tests.jobs.conftest import final_states, wait_until


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _value(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[HealthServer]:
    settings = embedded_settings.model_copy(update={"redis_url": REDIS_TEST_URL})
    srv = serve_worker_health(settings, 0, "127.0.0.1")
    yield srv
    srv.stop()


def test_live_and_metrics(server: HealthServer) -> None:
    status, body = _get(server.port, "/health/live")
    assert status == 200 and json.loads(body)["status"] == "ok"
    JOBS_FINISHED.labels(type="ingest", state="failed").inc()
    status, body = _get(server.port, "/metrics")
    assert status == 200
    labels = {"type": "ingest", "state": "failed"}
    assert _value(body.decode(), "cerflow_jobs_finished_total", labels) == (
        JOBS_FINISHED.labels(**labels)._value.get()
    )
    assert _get(server.port, "/nope")[0] == 404


@pytest.mark.skipif(not _redis_up(), reason="the test Redis does not answer")
def test_ready_when_broker_and_database_answer(server: HealthServer) -> None:
    status, body = _get(server.port, "/health/ready")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ok", "broker": "ok", "database": "ok"},
    )


def test_not_ready_names_what_is_down_and_never_the_url(embedded_settings: Settings) -> None:
    secret = "s3cret-pw"
    settings = embedded_settings.model_copy(
        update={"redis_url": f"redis://:{secret}@127.0.0.1:{_free_port()}/0"}
    )
    srv = serve_worker_health(settings, 0, "127.0.0.1")
    try:
        status, body = _get(srv.port, "/health/ready")
    finally:
        srv.stop()
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "broker": "unavailable", "database": "ok"}
    assert secret.encode() not in body


def test_a_taken_port_is_a_clear_cli_error(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cerflow.cli import app, worker

    settings = embedded_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    monkeypatch.setattr(worker, "get_settings", lambda: settings)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app,
            ["worker", "--queues", "analysis", "--metrics-port", str(port), "--metrics-host",
             "127.0.0.1"],
        )  # fmt: skip
    assert result.exit_code == 2
    assert f"cannot serve worker health on 127.0.0.1:{port}" in result.output
    assert "--metrics-port" in result.output


@pytest.mark.skipif(not _redis_up(), reason="the test Redis does not answer")
def test_a_real_worker_serves_health_and_its_childrens_counters(
    sqlite_engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        environment=Environment.TESTING,
        data_dir=tmp_path,
        redis_url=REDIS_TEST_URL,
        celery_queue_prefix=f"healthtest-{tag}-",
        redis_key_prefix=f"cerflow-healthtest:{tag}:",
        secret_key=SecretStr("health-test-secret-" + "h" * 40),
        jobs_allow_fault_injection=True,
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "CERFLOW_ENVIRONMENT": "testing",
            "CERFLOW_DATA_DIR": str(tmp_path),
            "CERFLOW_REDIS_URL": REDIS_TEST_URL,
            "CERFLOW_CELERY_QUEUE_PREFIX": settings.celery_queue_prefix,
            "CERFLOW_REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "CERFLOW_SECRET_KEY": settings.secret_key.get_secret_value(),
            "CERFLOW_JOBS_ALLOW_FAULT_INJECTION": "true",
            "CERFLOW_WORKER_METRICS_PORT": str(port),
        }
    )
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerflow.cli", "worker", "--queues", "analysis",
         "--concurrency", "1", "--metrics-host", "127.0.0.1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is None and _get_or_none(port, "/health/ready") == 200)
        submitter = CelerySubmitter(settings, app=make_celery(settings))
        with unit_of_work(factory) as session:
            handle = submitter.submit(
                session=session,
                kind="analysis",
                payload={"product_kind": "device", "product_ref": "XYZ",
                         "_fault": {"permanent": "injected permanent failure"}},
                requested_by=None,
            )  # fmt: skip
        wait_until(lambda: final_states(factory, [handle.id]) == {handle.id: "failed"})
        labels = {"type": "analysis", "state": "failed"}
        # The count is written by the pool child and read through the parent's port.
        wait_until(
            lambda: (
                _value(_get(port, "/metrics")[1].decode(), "cerflow_jobs_finished_total", labels)
                == 1.0
            )
        )
        status, body = _get(port, "/health/live")
        live = json.loads(body)
        # Stamped by the consumer's own event loop (every 5 s), not by the health thread.
        assert status == 200 and live["status"] == "ok"
        assert 0 <= live["consumer_heartbeat_age_seconds"] < 15
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        client = redis.Redis.from_url(REDIS_TEST_URL)
        client.delete(
            *(settings.celery_queue_prefix + q for q in ("ingest", "analysis", "reports"))
        )
        client.close()


def _get_or_none(port: int, path: str) -> int | None:
    try:
        return _get(port, path)[0]
    except OSError:
        return None


def test_liveness_fails_when_the_consumer_loop_stops_turning(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cerflow.jobs import liveness

    monkeypatch.setattr(liveness, "_last_beat", time.monotonic() - 2.0)
    alive, detail = liveness.consumer_alive(60.0, 300.0)
    assert alive and 1.5 < detail["consumer_heartbeat_age_seconds"] < 10
    monkeypatch.setattr(liveness, "_last_beat", time.monotonic() - 90.0)
    srv = serve_worker_health(
        embedded_settings.model_copy(update={"worker_liveness_seconds": 60.0}),
        0,
        "127.0.0.1",
        watch_consumer=True,
    )
    try:
        status, body = _get(srv.port, "/health/live")
    finally:
        srv.stop()
    assert status == 503
    assert json.loads(body)["status"] == "stalled"
    assert json.loads(body)["consumer_heartbeat_age_seconds"] >= 90
    monkeypatch.setattr(liveness, "_last_beat", None)
    monkeypatch.setattr(liveness, "_started", time.monotonic() - 400.0)
    assert liveness.consumer_alive(60.0, 300.0)[0] is False  # never turned after the grace
