"""Job status, cancellation and retry; `/api/tasks/{task_id}` is an alias of the status URL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, JobSubmitterDep, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, NOT_FOUND
from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.jobs import service as jobs
from cerflow.jobs.models import Job
from cerflow.jobs.schemas import JobOut

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"], responses={**AUTH_RESPONSES})
alias_router = APIRouter(prefix="/api/tasks", tags=["jobs"], responses={**AUTH_RESPONSES})

JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]
CONFLICT_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "The job's state does not allow this"}
}


def visible_job(session: SessionDep, principal: Principal, job_id: str) -> Job:
    job = session.get(Job, job_id.split("-", 1)[0])
    if job is None or (job.owner_id != principal.user_id and principal.role != Role.ADMIN):
        raise HTTPException(404, detail=f"no job with id {job_id}")
    return job


@router.get("", response_model=list[JobOut])
def list_jobs(user: ViewerUser, session: SessionDep) -> list[Job]:
    """Your 100 most recent jobs."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.owner_id == user.user_id)
            .order_by(Job.created_at.desc())
            .limit(100)
        )
    )


@router.get("/{job_id}", response_model=JobOut, responses={**NOT_FOUND})
def get_job(job_id: JobId, user: ViewerUser, session: SessionDep) -> Job:
    return visible_job(session, user, job_id)


@alias_router.get("/{task_id}", response_model=JobOut, responses={**NOT_FOUND})
def get_task(task_id: JobId, user: ViewerUser, session: SessionDep) -> Job:
    return visible_job(session, user, task_id)


@router.post("/{job_id}/cancel", response_model=JobOut, responses={**NOT_FOUND, **CONFLICT_409})
def cancel_job(
    job_id: JobId, user: AnalystUser, session: SessionDep, submitter: JobSubmitterDep
) -> Job:
    job = visible_job(session, user, job_id)
    try:
        jobs.cancel(session=session, job=job)
    except jobs.JobConflictError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    revoke = getattr(submitter, "revoke", None)
    if revoke is not None:
        task_id = job.task_id
        from cerflow.unit_of_work import on_commit

        on_commit(session, lambda: revoke(task_id))
    return job


@router.post(
    "/{job_id}/retry",
    response_model=JobOut,
    status_code=202,
    responses={**NOT_FOUND, **CONFLICT_409},
)
def retry_job(
    job_id: JobId, user: AnalystUser, session: SessionDep, submitter: JobSubmitterDep
) -> Job:
    job = visible_job(session, user, job_id)
    try:
        jobs.reset_for_retry(session=session, job=job)
    except jobs.JobConflictError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    resend = getattr(submitter, "resend", None)
    if resend is not None:
        resend(session=session, job=job)
    return job
