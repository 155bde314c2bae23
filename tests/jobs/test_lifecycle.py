"""Embedded mode: jobs a stopped process left behind run when the app starts again."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.config import Settings
from cerflow.jobs.lifecycle import JobLayer, recover
from cerflow.jobs.models import Job, utcnow
from cerflow.jobs.submitters import InProcessSubmitter
from tests.jobs.conftest import final_states, wait_until


def _left_behind(factory: sessionmaker[Session], state: str, **values: object) -> str:
    job_id = uuid.uuid4().hex
    now = utcnow()
    with factory() as session:
        session.add(
            Job(
                id=job_id,
                type="analysis",
                state=state,
                params={"mode": "ok"},
                attempts=values.pop("attempts", 0),
                sends=1,
                created_at=values.pop("created_at", now),
                sent_at=values.pop("sent_at", now),
                **values,
            )
        )
        session.commit()
    return job_id


@pytest.mark.usefixtures("stand_in_pipeline")
def test_app_start_runs_jobs_left_queued_or_retrying(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    queued = _left_behind(factory, "queued")
    retrying = _left_behind(
        factory, "retrying", attempts=1, heartbeat_at=now - dt.timedelta(seconds=1)
    )
    dead = _left_behind(
        factory,
        "running",
        attempts=1,
        worker="gone:1:abc",
        heartbeat_at=now - dt.timedelta(hours=1),
    )
    # A running job with a fresh heartbeat may belong to another live process: untouched.
    alive = _left_behind(factory, "running", attempts=1, worker="other:2:def", heartbeat_at=now)
    ids = [queued, retrying, dead]
    with TestClient(create_app(embedded_settings)):
        wait_until(lambda: len(final_states(factory, ids)) == 3)
    assert final_states(factory, ids) == dict.fromkeys(ids, "succeeded")
    with factory() as session:
        kept = session.get(Job, alive)
        assert kept is not None
        assert (kept.state, kept.worker, kept.sends) == ("running", "other:2:def", 1)
        assert session.get(Job, dead).attempts == 2  # type: ignore[union-attr]


def test_recover_sends_each_left_job_once_and_counts_them(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    sent: list[tuple[float, str]] = []

    class _Recorder(InProcessSubmitter):
        def send_later(self, delay: float, job_id: str) -> None:
            sent.append((delay, job_id))

    later = utcnow() + dt.timedelta(seconds=120)
    queued = _left_behind(factory, "queued")
    retrying = _left_behind(factory, "retrying", attempts=1, heartbeat_at=later)
    _left_behind(factory, "succeeded")
    submitter = _Recorder(embedded_settings, factory=factory)
    try:
        assert recover(settings=embedded_settings, submitter=submitter) == 2
    finally:
        submitter.shutdown()
    by_id = {job_id: delay for delay, job_id in sent}
    assert set(by_id) == {queued, retrying}
    assert by_id[queued] == 0
    assert 60 < by_id[retrying] <= 120  # waits for the retry's due time
    with factory() as session:
        assert session.get(Job, queued).sends == 2  # type: ignore[union-attr]


def test_the_job_layer_shuts_the_pool_down(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    submitter = InProcessSubmitter(embedded_settings, factory=factory)
    layer = JobLayer(embedded_settings, factory, submitter)
    layer.start()
    assert layer.sweeper is not None and layer.sweeper.thread.is_alive()
    layer.stop()
    assert not layer.sweeper.thread.is_alive()
    job_id = _left_behind(factory, "queued")
    submitter.send(job_id)  # refused once shut down: nothing runs
    with factory() as session:
        assert session.get(Job, job_id).state == "queued"  # type: ignore[union-attr]


@pytest.mark.usefixtures("stand_in_pipeline")
def test_the_sweeper_thread_resends_a_job_whose_worker_died(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    settings = embedded_settings.model_copy(
        update={"jobs_sweep_interval_seconds": 0.2, "jobs_stale_after_seconds": 1.0}
    )
    submitter = InProcessSubmitter(settings, factory=factory)
    layer = JobLayer(settings, factory, submitter)
    layer.start()
    try:
        # Appears after start-up, as if its thread died mid-run: only the sweeper sees it.
        old = utcnow() - dt.timedelta(seconds=30)
        job_id = _left_behind(
            factory,
            "running",
            attempts=1,
            worker="dead:1:x",
            heartbeat_at=old,
            sent_at=old,
            created_at=old,
        )
        wait_until(lambda: final_states(factory, [job_id]) == {job_id: "succeeded"})
    finally:
        layer.stop()
