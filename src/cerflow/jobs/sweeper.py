"""Re-send jobs the table says are active but no worker has touched within the bound.

Redis without persistence forgets its queues when it restarts, and a worker killed with
its parent holds its unacked message until the visibility timeout (hours). The table is
the truth: a queued job not sent recently, or a running/retrying job with a stale
heartbeat, is sent again. Claims are guarded by state and lease, so a re-send of a job
that is in fact still alive or already done changes nothing.

Beat runs `sweep_jobs` on a worker; the embedded mode's sweeper thread calls `sweep` with
the in-process runner as the sender. Both send through `cerflow.jobs.routing.send_job`.

"Stale" is a clock, not proof of a loss: under a backlog longer than the bound, a queued
job's message is simply still waiting its turn. Re-sending those would put one more copy
per job per bound at the tail of the queue, and the copies grow with the square of the
backlog: a job re-sent because its worker really died then waits behind thousands of
no-op duplicates (the fault test saw 2,457 left in the queue for 200 jobs). So with a
Redis broker the sweeper first reads which jobs still have a message waiting in the
queues and re-sends only the others. Any other broker (or a failed read) keeps the
clock-only rule.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.metrics import JOBS_FINISHED
from cerflow.jobs.models import utcnow
from cerflow.jobs.routing import (
    QUEUES,
    RUN_TASK,
    SWEEP_TASK,
    Dispatch,
    TaskSender,
    queue_name,
    send_job,
)
from cerflow.jobs.runtime import runtime
from cerflow.unit_of_work import unit_of_work

if TYPE_CHECKING:
    from celery import Task  # the API runs the sweeper without loading Celery

log = structlog.get_logger(__name__)


def beat_entries(settings: Settings) -> dict[str, Any]:
    return {
        "cerflow-sweep-jobs": {"task": SWEEP_TASK, "schedule": settings.jobs_sweep_interval_seconds}
    }


SCAN_CHUNK = 1000


def _job_id(raw: bytes) -> str | None:
    """The job a waiting kombu-on-Redis message runs (its task id is `<job id>-<send>`)."""
    try:
        headers = json.loads(raw).get("headers") or {}
    except ValueError:
        return None
    task_id = headers.get("id")
    if headers.get("task") != RUN_TASK or not isinstance(task_id, str):
        return None
    return task_id.rsplit("-", 1)[0]


def waiting_job_ids(app: TaskSender, settings: Settings) -> set[str] | None:
    """Jobs with a message still waiting in the Redis broker's queues; None = cannot tell.

    Messages a worker already took (reserved or held for a countdown) are not counted:
    if that worker died, its job goes stale and must be re-sent.
    """
    connect = getattr(app, "connection_for_read", None)
    if connect is None:  # the embedded runner: no broker to read
        return None
    try:
        with connect() as conn:
            if conn.transport.driver_type != "redis":
                return None
            client = conn.default_channel.client
            found: set[str] = set()
            for queue in QUEUES:
                name = queue_name(settings, queue)
                start = 0
                while chunk := client.lrange(name, start, start + SCAN_CHUNK - 1):
                    found.update(j for j in map(_job_id, chunk) if j)
                    start += len(chunk)
            return found
    except Exception as exc:  # broker down: the clock-only rule
        log.warning("sweep_queue_read_failed", error=type(exc).__name__)
        return None


def sweep(*, settings: Settings, factory: sessionmaker[Session], app: TaskSender) -> int:
    """Returns how many jobs were re-sent. Jobs over the attempt budget are failed instead.

    The stale jobs are marked sent and committed first; the sends follow the commit.
    """
    dispatches: list[Dispatch] = []
    gave_up: list[str] = []
    with unit_of_work(factory) as session:
        stale = jobs.stale_jobs(session=session, stale_after=settings.jobs_stale_after_seconds)
        waiting = waiting_job_ids(app, settings) if stale else None
        for job in stale:
            if waiting is not None and job.id in waiting:
                continue  # its message is still in the queue: a backlog, not a loss
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
    from cerflow.observability.runtime_metrics import SWEEPER_RUNS

    SWEEPER_RUNS.labels(task="sweep_jobs").inc()  # CerflowBeatMissing watches it move
    return sweep(settings=runtime.settings, factory=runtime.factory, app=task.app)
