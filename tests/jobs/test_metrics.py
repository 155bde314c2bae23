"""Job metrics: counters from real in-process runs, gauges from the jobs table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import User
from cerflow.config import Settings
from cerflow.jobs.metrics import TableCollector
from cerflow.jobs.models import Job, utcnow
from cerflow.jobs.submitters import InProcessSubmitter
from cerflow.observability.metrics import (
    add_live_collector,
    remove_live_collector,
    render_latest,
    sample_value,
)
from cerflow.unit_of_work import unit_of_work
from cerflow.webhooks.models import Webhook
from tests.jobs.conftest import final_states, wait_until


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _counters() -> dict[str, float]:
    return {
        "succeeded": sample_value(
            "cerflow_jobs_finished_total", {"type": "analysis", "state": "succeeded"}
        ),
        "failed": sample_value(
            "cerflow_jobs_finished_total", {"type": "analysis", "state": "failed"}
        ),
        "retries": sample_value("cerflow_job_retries_total", {"type": "analysis"}),
        "ok_runs": sample_value(
            "cerflow_job_duration_seconds_count", {"type": "analysis", "state": "succeeded"}
        ),
        "retry_runs": sample_value(
            "cerflow_job_duration_seconds_count", {"type": "analysis", "state": "retrying"}
        ),
        "failed_runs": sample_value(
            "cerflow_job_duration_seconds_count", {"type": "analysis", "state": "failed"}
        ),
    }


@pytest.mark.usefixtures("stand_in_pipeline")
def test_runs_are_counted_by_type_and_outcome(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    before = _counters()
    submitter = InProcessSubmitter(embedded_settings, factory=factory)
    try:
        ids = []
        with unit_of_work(factory) as session:
            for mode in ("ok", "transient", "permanent"):
                handle = submitter.submit(
                    session=session, kind="analysis", payload={"mode": mode}, requested_by=None
                )
                ids.append(handle.id)
        wait_until(lambda: len(final_states(factory, ids)) == 3)
    finally:
        submitter.shutdown()
    assert final_states(factory, ids) == dict(
        zip(ids, ["succeeded", "succeeded", "failed"], strict=True)
    )
    after = _counters()
    delta = {k: after[k] - before[k] for k in after}
    # ok: one run; transient: a retried run then a successful one; permanent: one failure.
    assert delta == {
        "succeeded": 2,
        "failed": 1,
        "retries": 1,
        "ok_runs": 2,
        "retry_runs": 1,
        "failed_runs": 1,
    }


def _job(state: str, **values: Any) -> Job:
    now = utcnow()
    return Job(
        id=uuid.uuid4().hex,
        type="analysis",
        state=state,
        params={},
        attempts=0,
        sends=1,
        created_at=values.pop("created_at", now),
        **values,
    )


def test_table_gauges_count_states_and_ages(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with factory() as session:
        user = User(email="gauge@example.org", password_hash="x", role="analyst")
        session.add(user)
        session.flush()
        session.add_all(
            [
                _job("queued", created_at=now - dt.timedelta(seconds=900)),
                _job("queued", created_at=now - dt.timedelta(seconds=30)),
                _job("running", heartbeat_at=now - dt.timedelta(seconds=400)),
                _job("running", heartbeat_at=now),
                _job("succeeded"),
                _job("succeeded"),
                _job("succeeded"),
                _job("failed"),
                Webhook(user_id=user.id, url="http://a", secret="s", events=[], active=False),
                Webhook(user_id=user.id, url="http://b", secret="s", events=[], active=True),
            ]
        )
        session.commit()
    collector = TableCollector(factory)
    add_live_collector(collector)
    try:
        text = render_latest()[0].decode()
    finally:
        remove_live_collector(collector)
    jobs = _samples(text, "cerflow_jobs")
    assert {dict(k)["state"]: v for k, v in jobs.items()} == {
        "queued": 2,
        "running": 2,
        "retrying": 0,
        "succeeded": 3,
        "failed": 1,
        "cancelled": 0,
    }
    ages = {
        dict(k)["state"]: v for k, v in _samples(text, "cerflow_jobs_oldest_age_seconds").items()
    }
    assert set(ages) == {"queued", "running", "retrying"}
    # The oldest queued job was created 900 s ago, the stalest heartbeat is 400 s old.
    assert 900 <= ages["queued"] < 900 + 120
    assert 400 <= ages["running"] < 400 + 120
    assert ages["retrying"] == 0
    assert _samples(text, "cerflow_webhooks_disabled") == {(): 1}


def test_a_database_outage_does_not_fail_the_scrape() -> None:
    def broken() -> Session:
        raise OSError("database down")

    collector = TableCollector(broken)  # type: ignore[arg-type]
    assert list(collector.collect()) == []
    assert {m.name for m in collector.describe()} == {
        "cerflow_jobs",
        "cerflow_jobs_oldest_age_seconds",
        "cerflow_webhooks_disabled",
        "cerflow_backup_last_success_timestamp_seconds",
    }


def test_the_api_metrics_endpoint_serves_the_job_gauges(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    with factory() as session:
        session.add(_job("failed"))
        session.add(_job("cancelled"))
        session.commit()
    with TestClient(create_app(embedded_settings)) as client:
        text = client.get("/metrics").text
    jobs = {dict(k)["state"]: v for k, v in _samples(text, "cerflow_jobs").items()}
    assert jobs["failed"] == 1 and jobs["cancelled"] == 1 and jobs["queued"] == 0


@pytest.mark.usefixtures("stand_in_pipeline")
def test_contention_retries_do_not_use_up_attempts(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    """A report whose version number was taken by another report retries past the attempt
    budget (each conflict means the other report finished); a plain transient error still
    gives up after the budget."""
    settings = embedded_settings.model_copy(update={"jobs_max_retries": 1})
    submitter = InProcessSubmitter(settings, factory=factory)
    try:
        with unit_of_work(factory) as session:
            handle = submitter.submit(
                session=session,
                kind="analysis",
                payload={"mode": "contended", "conflicts": 4},
                requested_by=None,
            )
        wait_until(lambda: len(final_states(factory, [handle.id])) == 1)
    finally:
        submitter.shutdown()
    assert final_states(factory, [handle.id]) == {handle.id: "succeeded"}
    with factory() as session:
        job = session.get(Job, handle.id)
        assert job is not None and job.result is not None
        assert job.result["attempt"] == 5 and job.attempts == 5
