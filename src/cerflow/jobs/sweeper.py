"""Re-send jobs the table says are active but no worker has touched within the bound.

Redis without persistence forgets its queues when it restarts, and a worker killed with
its parent holds its unacked message until the visibility timeout (hours). The table is
the truth: a queued job not sent recently, or a running/retrying job with a stale
heartbeat, is sent again. Claims are guarded by state and lease, so a re-send of a job
that is in fact still alive or already done changes nothing.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs

log = structlog.get_logger(__name__)


def beat_entries(settings: Settings) -> dict[str, Any]:
    from cerflow.jobs.celery_app import SWEEP_TASK

    return {
        "cerflow-sweep-jobs": {"task": SWEEP_TASK, "schedule": settings.jobs_sweep_interval_seconds}
    }


def sweep(*, settings: Settings, factory: sessionmaker[Session], app: Celery) -> int:
    """Returns how many jobs were re-sent. Jobs over the attempt budget are failed instead."""
    from cerflow.jobs.celery_app import RUN_TASK, queue_for
    from cerflow.jobs.models import utcnow

    resent = 0
    with factory() as session:
        stale = jobs.stale_jobs(session=session, stale_after=settings.jobs_stale_after_seconds)
        plans: list[tuple[str, str, str]] = []
        for job in stale:
            if job.attempts > settings.jobs_max_retries + 1:
                job.state = "failed"
                job.error = (
                    f"the worker was lost or hit the time limit on each of {job.attempts} "
                    "attempts; giving up (check the worker logs and the job's time limit)"
                )
                job.finished_at = utcnow()
                continue
            task_id = f"{job.id}-{job.sends + 1}"
            jobs.mark_sent(session=session, job_id=job.id, task_id=task_id)
            plans.append((job.id, job.type, task_id))
        session.commit()
    for job_id, job_type, task_id in plans:
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
