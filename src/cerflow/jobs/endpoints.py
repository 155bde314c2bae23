"""Job status, cancellation and retry; `/api/tasks/{task_id}` is an alias of the status URL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, JobSubmitterDep, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, NOT_FOUND
from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.jobs import service as jobs
from cerflow.jobs.models import Job
from cerflow.jobs.schemas import JobOut
from cerflow.unit_of_work import on_commit

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"], responses={**AUTH_RESPONSES})
alias_router = APIRouter(prefix="/api/tasks", tags=["jobs"], responses={**AUTH_RESPONSES})

JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]
CONFLICT_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "The job's state does not allow this"}
}


def visible_job(session: SessionDep, principal: Principal, job_id: str) -> Job:
    return jobs.visible(
        session=session,
        job_id=job_id,
        user_id=principal.user_id,
        is_admin=principal.role == Role.ADMIN,
    )


@router.get("", response_model=list[JobOut])
def list_jobs(user: ViewerUser, session: SessionDep) -> list[Job]:
    """Your 100 most recent jobs."""
    return jobs.recent_for_owner(session=session, owner_id=user.user_id, limit=100)


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
    jobs.cancel(session=session, job=job)
    revoke = getattr(submitter, "revoke", None)
    if revoke is not None:
        task_id = job.task_id
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
    jobs.reset_for_retry(session=session, job=job)
    resend = getattr(submitter, "resend", None)
    if resend is not None:
        resend(session=session, job=job)
    return job
