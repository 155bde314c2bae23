"""The Celery application: `celery -A cerflow.jobs.celery_app worker -Q ...`.

Configured for "nothing lost, nothing done twice": late acks and reject-on-worker-lost so
a killed worker's task goes back to the queue; prefetch 1 so a worker holds at most one
unstarted task; a Redis `visibility_timeout` far above the hard time limit so Redis does
not redeliver a task that is merely long; JSON only. Task functions are synchronous and
use the sync SQLAlchemy engine. Results are never read from Celery: the jobs table is the
truth, and a periodic sweeper re-sends what the broker may have forgotten.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings, get_settings
from cerflow.db import make_engine, make_session_factory

log = structlog.get_logger(__name__)

QUEUES = ("ingest", "analysis", "reports")
QUEUE_FOR_TYPE = {
    "ingest": "ingest",
    "refresh": "ingest",
    "analysis": "analysis",
    "report": "reports",
}
RUN_TASK = "cerflow.jobs.run"
SWEEP_TASK = "cerflow.jobs.sweep"
SCHEDULE_REFRESHES_TASK = "cerflow.alerts.schedule_refreshes"
DELIVER_WEBHOOK_TASK = "cerflow.webhooks.deliver"


def queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.celery_queue_prefix}{queue}"


def queue_for(settings: Settings, job_type: str) -> str:
    return queue_name(settings, QUEUE_FOR_TYPE.get(job_type, "analysis"))


def configure(app: Celery, settings: Settings) -> None:
    if settings.broker_visibility_timeout_seconds < 2 * settings.jobs_time_limit_seconds:
        raise ValueError(
            "CERFLOW_BROKER_VISIBILITY_TIMEOUT_SECONDS must be at least twice "
            "CERFLOW_JOBS_TIME_LIMIT_SECONDS, or Redis redelivers long tasks while they run"
        )
    from kombu import Queue

    app.conf.update(
        broker_url=settings.effective_broker_url or "memory://",
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_soft_time_limit=settings.jobs_soft_time_limit_seconds,
        task_time_limit=settings.jobs_time_limit_seconds,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_queues=[
            Queue(queue_name(settings, q), routing_key=queue_name(settings, q)) for q in QUEUES
        ],
        task_default_queue=queue_name(settings, "analysis"),
        task_routes={
            SWEEP_TASK: {"queue": queue_name(settings, "analysis")},
            SCHEDULE_REFRESHES_TASK: {"queue": queue_name(settings, "analysis")},
            DELIVER_WEBHOOK_TASK: {"queue": queue_name(settings, "analysis")},
        },
        beat_schedule=beat_schedule(settings),
        timezone="UTC",
    )


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """Each domain registers its own entries; this only collects them."""
    from cerflow.alerts.schedule import beat_entries as alert_entries
    from cerflow.jobs.sweeper import beat_entries as job_entries

    return {**job_entries(settings), **alert_entries(settings)}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("cerflow")
    configure(app, settings)
    return app


class _Runtime:
    """Per-process engine; re-created after fork (prefork children must not share sockets)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(settings=self.settings)
            self._factory = make_session_factory(self._engine)
        return self._engine

    @property
    def factory(self) -> sessionmaker[Session]:
        _ = self.engine
        assert self._factory is not None
        return self._factory

    def reset(self) -> None:
        if self._engine is not None:
            self._engine.dispose(close=False)
        self._engine = None
        self._factory = None


runtime = _Runtime()
app = make_celery()
celery = app  # `celery -A cerflow.jobs.celery_app` finds `app` or `celery`


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    runtime.reset()


@app.task(bind=True, name=RUN_TASK, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Task, job_id: str) -> str:
    from cerflow.jobs.runner import execute

    outcome = execute(
        job_id, settings=runtime.settings, engine=runtime.engine, factory=runtime.factory
    )
    if outcome.action in ("retry", "recheck"):
        raise self.retry(countdown=outcome.countdown, max_retries=None)
    return outcome.state


@app.task(name=SWEEP_TASK, acks_late=True)
def sweep_task() -> int:
    from cerflow.jobs.sweeper import sweep

    return sweep(settings=runtime.settings, factory=runtime.factory, app=app)


@app.task(name=SCHEDULE_REFRESHES_TASK, acks_late=True)
def schedule_refreshes_task() -> int:
    from cerflow.alerts.schedule import schedule_due_refreshes

    return schedule_due_refreshes(settings=runtime.settings, factory=runtime.factory, app=app)


@app.task(bind=True, name=DELIVER_WEBHOOK_TASK, max_retries=None, acks_late=True)
def deliver_webhook_task(
    self: Task, webhook_id: int, event: dict[str, Any], attempt: int = 1
) -> str:
    from cerflow.webhooks.service import deliver_once

    result = deliver_once(
        settings=runtime.settings,
        factory=runtime.factory,
        webhook_id=webhook_id,
        event=event,
        attempt=attempt,
    )
    if result.retry_in is not None:
        self.apply_async(args=(webhook_id, event, attempt + 1), countdown=result.retry_in)
    return result.status
