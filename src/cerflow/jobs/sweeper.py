"""Re-send jobs the table says are active but no worker has touched within the bound.

Redis without persistence forgets its queues when it restarts, and a worker killed with
its parent holds its unacked message until the visibility timeout (hours). The table is
the truth: a queued job not sent recently, or a running/retrying job with a stale
heartbeat, is sent again. Claims are guarded by state and lease, so a re-send of a job
that is in fact still alive or already done changes nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import structlog
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.metrics import JOBS_FINISHED

log = structlog.get_logger(__name__)


class Resend(NamedTuple):
    job_id: str
    job_type: str
    task_id: str


def beat_entries(settings: Settings) -> dict[str, Any]:
    from cerflow.jobs.celery_app import SWEEP_TASK

    return {
        "cerflow-sweep-jobs": {"task": SWEEP_TASK, "schedule": settings.jobs_sweep_interval_seconds}
    }


def plan_resends(*, settings: Settings, factory: sessionmaker[Session]) -> list[Resend]:
    """Marks stale jobs as sent again (committed) and returns what to send.

    Jobs over the attempt budget are failed instead. Shared by beat's sweep task and the
    embedded mode's sweeper thread, which only differ in how they send.
    """
    from cerflow.jobs.models import utcnow

    with factory() as session:
        stale = jobs.stale_jobs(session=session, stale_after=settings.jobs_stale_after_seconds)
        plans: list[Resend] = []
        gave_up: list[str] = []
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
            task_id = f"{job.id}-{job.sends + 1}"
            jobs.mark_sent(session=session, job_id=job.id, task_id=task_id)
            plans.append(Resend(job.id, job.type, task_id))
        session.commit()
    for job_type in gave_up:
        JOBS_FINISHED.labels(type=job_type, state="failed").inc()
    return plans


def sweep(*, settings: Settings, factory: sessionmaker[Session], app: Celery) -> int:
    """Returns how many jobs were re-sent. Jobs over the attempt budget are failed instead."""
    from cerflow.jobs.celery_app import RUN_TASK, queue_for

    resent = 0
    for job_id, job_type, task_id in plan_resends(settings=settings, factory=factory):
        try:
            app.send_task(
                RUN_TASK, args=[job_id], task_id=task_id, queue=queue_for(settings, job_type)
            )
            resent += 1
        except Exception as exc:  # broker still down: the next sweep tries again
            log.warning("job_resend_failed", job_id=job_id, error=type(exc).__name__)
    if resent:
        log.warning("jobs_resent", count=resent)
    return resent
