"""Re-send jobs the table says are active but no worker has touched within the bound.

Redis without persistence forgets its queues when it restarts, and a worker killed with
its parent holds its unacked message until the visibility timeout (hours). The table is
the truth: a queued job not sent recently, or a running/retrying job with a stale
heartbeat, is sent again. Claims are guarded by state and lease, so a re-send of a job
that is in fact still alive or already done changes nothing.

Beat runs `sweep_jobs` on a worker; the embedded mode's sweeper thread calls `sweep` with
the in-process runner as the sender. Both send through `cerflow.jobs.routing.send_job`.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.metrics import JOBS_FINISHED
from cerflow.jobs.models import utcnow
from cerflow.jobs.routing import SWEEP_TASK, Dispatch, TaskSender, send_job
from cerflow.jobs.runtime import runtime
from cerflow.unit_of_work import unit_of_work

log = structlog.get_logger(__name__)


def beat_entries(settings: Settings) -> dict[str, Any]:
    return {
        "cerflow-sweep-jobs": {"task": SWEEP_TASK, "schedule": settings.jobs_sweep_interval_seconds}
    }


def sweep(*, settings: Settings, factory: sessionmaker[Session], app: TaskSender) -> int:
    """Returns how many jobs were re-sent. Jobs over the attempt budget are failed instead.

    The stale jobs are marked sent and committed first; the sends follow the commit.
    """
    dispatches: list[Dispatch] = []
    gave_up: list[str] = []
    with unit_of_work(factory) as session:
        stale = jobs.stale_jobs(session=session, stale_after=settings.jobs_stale_after_seconds)
        for job in stale:
            if job.attempts > settings.jobs_max_retries + 1:
                job.state = "failed"
                job.error = (
                    f"the worker was lost or hit the time limit on each of {job.attempts} "
                    "attempts; giving up (check the worker logs and the job's time limit)"
                )
                job.finished_at = utcnow()
                gave_up.append(job.type)
                continue
            dispatches.append(send_job(session, job, app=app, settings=settings))
    for job_type in gave_up:
        JOBS_FINISHED.labels(type=job_type, state="failed").inc()
    resent = sum(d.sent for d in dispatches)
    if resent:
        log.warning("jobs_resent", count=resent)
    return resent


def sweep_jobs(task: Task) -> int:
    """Beat's task (`SWEEP_TASK`)."""
    return sweep(settings=runtime.settings, factory=runtime.factory, app=task.app)
