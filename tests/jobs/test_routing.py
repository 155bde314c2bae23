"""`send_job`: mark sent in the caller's transaction, send only after it commits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.models import Job
from cerflow.jobs.routing import RUN_TASK, queue_for, send_job
from cerflow.unit_of_work import unit_of_work


class _Broker:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, list[Any], dict[str, Any]]] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down (injected)")
        self.sent.append((name, list(args), options))


def _new_job(session: Session) -> Job:
    job, _ = jobs.create(session=session, type="report", params={}, owner_id=None)
    return job


def test_a_new_job_is_marked_sent_and_sent_after_commit(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    settings = embedded_settings.model_copy(update={"celery_queue_prefix": "t-"})
    broker = _Broker()
    with unit_of_work(factory) as session:
        job = _new_job(session)
        dispatch = send_job(session, job, app=broker, settings=settings)
        assert broker.sent == []  # nothing reaches the broker before the commit
    assert dispatch.sent
    assert broker.sent == [(RUN_TASK, [job.id], {"task_id": f"{job.id}-1", "queue": "t-reports"})]
    assert queue_for(settings, "report") == "t-reports"
    with factory() as session:
        row = session.get(Job, dispatch.job_id)
        assert row is not None
        assert (row.task_id, row.sends) == (f"{job.id}-1", 1) and row.sent_at is not None
        again = send_job(session, row, app=broker, settings=settings, countdown=5)
        session.rollback()  # a plain rollback: the second send never happens
    assert not again.sent and len(broker.sent) == 1


def test_a_rolled_back_transaction_sends_nothing(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    broker = _Broker()
    with pytest.raises(RuntimeError), unit_of_work(factory) as session:
        send_job(session, _new_job(session), app=broker, settings=embedded_settings)
        raise RuntimeError("request failed")
    assert broker.sent == []


def test_a_broker_error_leaves_the_job_marked_sent_for_the_sweeper(
    embedded_settings: Settings, factory: sessionmaker[Session]
) -> None:
    with unit_of_work(factory) as session:
        job = _new_job(session)
        dispatch = send_job(session, job, app=_Broker(fail=True), settings=embedded_settings)
    assert not dispatch.sent
    with factory() as session:
        row = session.get(Job, dispatch.job_id)
        assert row is not None and row.sends == 1 and row.state == "queued"
