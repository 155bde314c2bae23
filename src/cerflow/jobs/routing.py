"""Task names, queues, and the one way a job reaches a worker: `send_job`.

A leaf of the job layer: it imports no domain code and builds no Celery app. Producers
(the API's submitters, beat's refresh scheduler, the sweeper, the embedded recovery)
send by task name through whatever `TaskSender` they were handed, so enqueueing never
imports the worker's task functions, and the worker entry (`cerflow.jobs.worker`) is the
only place that binds names to code (through `cerflow.jobs.registry`).

"Mark sent, then send" is the rule that makes a lost message harmless: the job row
records the new task id and send time in the caller's transaction, and the task goes to
the broker only once that transaction commits. If the process dies in between, or the
broker refuses, the row says "sent at T" and the sweeper sends it again after the bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.models import Job
from cerflow.unit_of_work import on_commit

log = structlog.get_logger(__name__)

QUEUES = ("ingest", "analysis", "reports")
QUEUE_FOR_TYPE = {
    "ingest": "ingest",
    "refresh": "ingest",
    "analysis": "analysis",
    "report": "reports",
    "literature": "ingest",
}
RUN_TASK = "cerflow.jobs.run"
SWEEP_TASK = "cerflow.jobs.sweep"
SCHEDULE_REFRESHES_TASK = "cerflow.alerts.schedule_refreshes"
DELIVER_WEBHOOK_TASK = "cerflow.webhooks.deliver"
# Short housekeeping tasks share the analysis queue rather than each needing a worker.
HOUSEKEEPING_TASKS = (SWEEP_TASK, SCHEDULE_REFRESHES_TASK, DELIVER_WEBHOOK_TASK)


class TaskSender(Protocol):
    """What sends a task by name: a Celery app, or the embedded in-process runner."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


def queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.celery_queue_prefix}{queue}"


def queue_for(settings: Settings, job_type: str) -> str:
    return queue_name(settings, QUEUE_FOR_TYPE.get(job_type, "analysis"))


def task_routes(settings: Settings) -> dict[str, dict[str, str]]:
    return {name: {"queue": queue_name(settings, "analysis")} for name in HOUSEKEEPING_TASKS}


@dataclass
class Dispatch:
    """One send of a job; `sent` turns true once the broker took it (after the commit)."""

    job_id: str
    job_type: str
    task_id: str
    sent: bool = False


def send_job(
    session: Session,
    job: Job,
    *,
    app: TaskSender,
    settings: Settings,
    countdown: float = 0.0,
) -> Dispatch:
    """Mark `job` sent with a fresh task id in `session`, and send it once `session` commits.

    The caller owns the transaction and must end it with `cerflow.unit_of_work.commit`
    (or `unit_of_work(...)`), which runs the send; a rollback drops it. A broker error is
    logged, not raised: the row already says the job was sent, so the sweeper re-sends it
    after `jobs_stale_after_seconds`.
    """
    task_id = f"{job.id}-{(job.sends or 0) + 1}"
    jobs.mark_sent(session=session, job_id=job.id, task_id=task_id)
    dispatch = Dispatch(job_id=job.id, job_type=job.type, task_id=task_id)
    queue = queue_for(settings, job.type)
    options: dict[str, Any] = {"countdown": countdown} if countdown > 0 else {}

    def send() -> None:
        try:
            app.send_task(RUN_TASK, args=[dispatch.job_id], task_id=task_id, queue=queue, **options)
        except Exception as exc:  # broker down: the sweeper sends it again
            log.warning("job_send_failed", job_id=dispatch.job_id, error=type(exc).__name__)
            return
        dispatch.sent = True

    on_commit(session, send)
    return dispatch
