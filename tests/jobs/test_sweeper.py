"""The sweeper re-sends lost jobs only: a job whose message still waits in Redis is left alone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.models import Job, utcnow
from cerflow.jobs.routing import RUN_TASK, queue_for
from cerflow.jobs.sweeper import sweep, waiting_job_ids
from cerflow.unit_of_work import unit_of_work
from tests.conftest import REDIS_TEST_URL


class _Broker:
    """A sender with no broker to read (like the embedded runner)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.sent.append(options["task_id"])


@pytest.fixture
def redis_settings(embedded_settings: Settings) -> Iterator[Settings]:
    settings = embedded_settings.model_copy(
        update={
            "redis_url": REDIS_TEST_URL,
            "celery_queue_prefix": f"sweeptest-{uuid.uuid4().hex[:8]}-",
            "jobs_stale_after_seconds": 60.0,
        }
    )
    yield settings
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.delete(
            *(settings.celery_queue_prefix + q for q in ("ingest", "analysis", "reports"))
        )
    finally:
        client.close()


def _stale_queued_jobs(factory: sessionmaker[Session], n: int) -> list[str]:
    """Queued report jobs sent (once) an hour ago: stale by the clock."""
    long_ago = utcnow() - dt.timedelta(hours=1)
    with unit_of_work(factory) as session:
        ids = [
            jobs.create(session=session, type="report", params={}, owner_id=None)[0].id
            for _ in range(n)
        ]
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(sends=1, sent_at=long_ago, created_at=long_ago)
            .execution_options(synchronize_session=False)
        )
    return ids


def _sends(factory: sessionmaker[Session], job_id: str) -> int:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.sends


@pytest.mark.redis
def test_a_job_still_waiting_in_the_queue_is_not_sent_again(
    redis_settings: Settings, factory: sessionmaker[Session]
) -> None:
    app: Celery = make_celery(redis_settings)
    waiting, lost = _stale_queued_jobs(factory, 2)
    # `waiting` is behind a backlog: its message is in the queue. `lost`'s was forgotten
    # (say Redis restarted without persistence).
    app.send_task(
        RUN_TASK,
        args=[waiting],
        task_id=f"{waiting}-1",
        queue=queue_for(redis_settings, "report"),
    )
    assert waiting_job_ids(app, redis_settings) == {waiting}

    assert sweep(settings=redis_settings, factory=factory, app=app) == 1
    assert (_sends(factory, waiting), _sends(factory, lost)) == (1, 2)
    assert waiting_job_ids(app, redis_settings) == {waiting, lost}
    # Both messages wait now: another sweep sends nothing, however stale the clock says.
    with unit_of_work(factory) as session:
        session.execute(update(Job).values(sent_at=utcnow() - dt.timedelta(hours=1)))
    assert sweep(settings=redis_settings, factory=factory, app=app) == 0


def test_without_a_readable_broker_every_stale_job_is_sent_again(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    ids = _stale_queued_jobs(factory, 2)
    broker = _Broker()
    assert waiting_job_ids(broker, embedded_settings) is None
    assert sweep(settings=embedded_settings, factory=factory, app=broker) == 2
    assert sorted(broker.sent) == sorted(f"{i}-2" for i in ids)
