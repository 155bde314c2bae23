"""Job records: create (idempotent), claim, progress, finish, retry, cancel, sweep.

Every state change is one UPDATE guarded by the current state and the lease token of the
worker that claimed the job, so a late or duplicate delivery can neither run a job twice
at the same time nor overwrite the outcome of the execution that owns it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cerflow.errors import ConflictError, NotFoundError
from cerflow.jobs.models import ACTIVE_STATES, FINAL_STATES, Job, utcnow

JOB_TYPES = ("ingest", "analysis", "report", "refresh", "literature")

ClaimResult = Literal["claimed", "finished", "busy", "missing"]


class JobConflictError(ConflictError, ValueError):
    """A state change the job's current state does not allow (e.g. cancel a finished job)."""


def new_id() -> str:
    return uuid.uuid4().hex


def create(
    *,
    session: Session,
    type: str,
    params: dict[str, Any],
    owner_id: int | None,
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """(job, created). The same idempotency key returns the existing job, even under a race."""
    if type not in JOB_TYPES:
        raise ValueError(f"unknown job type {type!r}; expected one of {', '.join(JOB_TYPES)}")
    if idempotency_key:
        found = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if found is not None:
            return found, False
    job = Job(
        id=new_id(),
        type=type,
        state="queued",
        progress=0,
        params=dict(params),
        owner_id=owner_id,
        idempotency_key=idempotency_key,
        attempts=0,
        sends=0,
        created_at=utcnow(),
    )
    if not idempotency_key:
        session.add(job)
        session.flush()
        return job, True
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        found = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if found is None:
            raise
        return found, False
    return job, True


def get(*, session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def visible(*, session: Session, job_id: str, user_id: int, is_admin: bool) -> Job:
    """A job its owner (or an admin) may see; anyone else gets the same 404 as for no job."""
    job = session.get(Job, job_id.split("-", 1)[0])
    if job is None or (job.owner_id != user_id and not is_admin):
        raise NotFoundError(f"no job with id {job_id}")
    return job


def recent_for_owner(*, session: Session, owner_id: int, limit: int = 100) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(Job.owner_id == owner_id).order_by(Job.created_at.desc()).limit(limit)
        )
    )


def mark_sent(*, session: Session, job_id: str, task_id: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(task_id=task_id, sent_at=utcnow(), sends=Job.sends + 1)
    )


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: str
    attempt: int
    type: str
    params: dict[str, Any]
    owner_id: int | None


def claim(
    *, session: Session, job_id: str, worker: str, stale_after: float
) -> tuple[ClaimResult, Lease | None]:
    now = utcnow()
    stale = now - dt.timedelta(seconds=stale_after)
    token = f"{worker}:{uuid.uuid4().hex[:8]}"[:200]
    res = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.state.in_(("queued", "retrying"))
            | (
                (Job.state == "running") & ((Job.heartbeat_at < stale) | Job.heartbeat_at.is_(None))
            ),
        )
        .values(
            state="running",
            worker=token,
            attempts=Job.attempts + 1,
            heartbeat_at=now,
            started_at=now,
            finished_at=None,
            step="starting",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return "missing", None
    if getattr(res, "rowcount", 0) != 1 or job.worker != token:
        return ("finished" if job.state in FINAL_STATES else "busy"), None
    return "claimed", Lease(job.id, token, job.attempts, job.type, dict(job.params), job.owner_id)


def _owned(lease: Lease) -> Any:
    return (Job.id == lease.job_id) & (Job.worker == lease.token) & (Job.state == "running")


def progress(*, session: Session, lease: Lease, percent: int, step: str) -> bool:
    """False when the job was cancelled or taken over: the caller must stop."""
    res = session.execute(
        update(Job)
        .where(_owned(lease))
        .values(progress=max(0, min(100, int(percent))), step=step[:200], heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return getattr(res, "rowcount", 0) == 1


def heartbeat(*, session: Session, lease: Lease) -> bool:
    res = session.execute(
        update(Job)
        .where(_owned(lease))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return getattr(res, "rowcount", 0) == 1


def succeed(*, session: Session, lease: Lease, result: dict[str, Any]) -> bool:
    """Does not commit: the caller commits it with whatever the result refers to."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(_owned(lease))
        .values(
            state="succeeded",
            progress=100,
            step="done",
            result=result,
            error=None,
            finished_at=now,
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(res, "rowcount", 0) == 1


def fail(*, session: Session, lease: Lease, error: str) -> bool:
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(_owned(lease))
        .values(state="failed", step="failed", error=error, finished_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return getattr(res, "rowcount", 0) == 1


def schedule_retry(*, session: Session, lease: Lease, error: str, countdown: float) -> bool:
    """`heartbeat_at` is set to when the retry is due, so the sweeper waits for it."""
    res = session.execute(
        update(Job)
        .where(_owned(lease))
        .values(
            state="retrying",
            step=f"waiting {countdown:.0f}s before attempt {lease.attempt + 1}",
            error=error,
            worker=None,
            heartbeat_at=utcnow() + dt.timedelta(seconds=countdown),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return getattr(res, "rowcount", 0) == 1


def cancel(*, session: Session, job: Job) -> Job:
    if job.state in FINAL_STATES:
        raise JobConflictError(f"job {job.id} is already {job.state}; nothing to cancel")
    job.state = "cancelled"
    job.step = "cancelled"
    job.finished_at = utcnow()
    job.worker = None
    session.flush()
    return job


def reset_for_retry(*, session: Session, job: Job) -> Job:
    if job.state not in ("failed", "cancelled"):
        raise JobConflictError(
            f"job {job.id} is {job.state}; only failed or cancelled jobs can be retried"
        )
    job.state = "queued"
    job.progress = 0
    job.step = "queued for a manual retry"
    job.error = None
    job.attempts = 0
    job.finished_at = None
    job.started_at = None
    job.heartbeat_at = None
    job.worker = None
    session.flush()
    return job


def stale_jobs(*, session: Session, stale_after: float, limit: int = 500) -> list[Job]:
    """Active jobs nobody touched within the bound: lost by the broker or a dead worker."""
    cutoff = utcnow() - dt.timedelta(seconds=stale_after)
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.state.in_(ACTIVE_STATES),
                # At most one re-send per bound, whatever the state.
                func.coalesce(Job.sent_at, Job.created_at) < cutoff,
                (
                    (
                        (Job.state == "queued")
                        & (func.coalesce(Job.sent_at, Job.created_at) < cutoff)
                    )
                    | ((Job.state != "queued") & (Job.heartbeat_at < cutoff))
                ),
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
    )
