"""The one table of background work: job type -> function, Celery task name -> function.

Each domain owns its work in `<domain>/tasks.py`; this module only lists it. It is
imported by the two executors and nothing else: the worker entry (`cerflow.jobs.worker`,
which registers `CELERY_TASKS` and the beat schedule on its app) and the embedded
in-process runner (`cerflow.jobs.submitters`, which runs `PIPELINES`). Producers send by
name through `cerflow.jobs.routing` and never import this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from cerflow.alerts import tasks as alerts_tasks
from cerflow.config import Settings
from cerflow.jobs import sweeper
from cerflow.jobs.context import Pipeline
from cerflow.jobs.routing import (
    DELIVER_WEBHOOK_TASK,
    RUN_TASK,
    SCHEDULE_REFRESHES_TASK,
    SWEEP_TASK,
)
from cerflow.jobs.runner import execute
from cerflow.jobs.runtime import runtime
from cerflow.literature.tasks import run_literature_search
from cerflow.products.tasks import run_ingest
from cerflow.reports.tasks import run_analysis, run_report
from cerflow.webhooks.tasks import deliver_webhook

PIPELINES: dict[str, Pipeline] = {
    "ingest": run_ingest,
    "analysis": run_analysis,
    "report": run_report,
    "refresh": alerts_tasks.run_refresh,
    "literature": run_literature_search,
}


def run_job(task: Task, job_id: str) -> str:
    """`RUN_TASK`: one delivery of a job of any type (the job row says which)."""
    outcome = execute(
        job_id,
        settings=runtime.settings,
        engine=runtime.engine,
        factory=runtime.factory,
        pipelines=PIPELINES,
        sender=task.app,
    )
    if outcome.action in ("retry", "recheck"):
        raise task.retry(countdown=outcome.countdown, max_retries=None)
    return outcome.state


# Every task takes the bound Celery task first (its app sends follow-ups, `retry`).
CELERY_TASKS: dict[str, Callable[..., Any]] = {
    RUN_TASK: run_job,
    SWEEP_TASK: sweeper.sweep_jobs,
    SCHEDULE_REFRESHES_TASK: alerts_tasks.schedule_refreshes,
    DELIVER_WEBHOOK_TASK: deliver_webhook,
}


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """Each domain declares its own periodic entries; this only collects them."""
    return {**sweeper.beat_entries(settings), **alerts_tasks.beat_entries(settings)}


def install(app: Celery, settings: Settings) -> None:
    """Register every task and the beat schedule on a worker's (or beat's) app."""
    for name, func in CELERY_TASKS.items():
        app.task(  # shared=False: the tasks belong to this app, not to every app built later
            bind=True,
            name=name,
            shared=False,
            max_retries=None,
            acks_late=True,
            reject_on_worker_lost=True,
        )(func)
    app.conf.beat_schedule = beat_schedule(settings)
