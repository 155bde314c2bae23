"""Build and configure a Celery app for the given settings; nothing is built at import.

Configured for "nothing lost, nothing done twice": late acks and reject-on-worker-lost so
a killed worker's task goes back to the queue; prefetch 1 so a worker holds at most one
unstarted task; a Redis `visibility_timeout` far above the hard time limit so Redis does
not redeliver a task that is merely long; JSON only. Results are never read from Celery:
the jobs table is the truth, and a periodic sweeper re-sends what the broker may have
forgotten.

`make_celery(settings)` gives a producer: it sends tasks by name (`cerflow.jobs.routing`)
and knows no task code. The worker and beat load `cerflow.jobs.worker`, which adds the
tasks and the beat schedule from `cerflow.jobs.registry`.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from cerflow.config import Settings, get_settings
from cerflow.jobs.routing import QUEUES, queue_name, task_routes


def configure(app: Celery, settings: Settings) -> None:
    if settings.broker_visibility_timeout_seconds < 2 * settings.jobs_time_limit_seconds:
        raise ValueError(
            "CERFLOW_BROKER_VISIBILITY_TIMEOUT_SECONDS must be at least twice "
            "CERFLOW_JOBS_TIME_LIMIT_SECONDS, or Redis redelivers long tasks while they run"
        )
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
        task_routes=task_routes(settings),
        timezone="UTC",
    )


def make_celery(settings: Settings | None = None) -> Celery:
    """A configured app that sends by task name; the worker entry adds the task code."""
    settings = settings or get_settings()
    app = Celery("cerflow")
    configure(app, settings)
    return app
