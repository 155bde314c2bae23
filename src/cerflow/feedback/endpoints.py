"""Feedback on a generated report: whoever can read the report may send it, admins read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from cerflow.api import API_PREFIX
from cerflow.api.deps import AdminUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, NOT_FOUND
from cerflow.feedback import service
from cerflow.feedback.models import Feedback
from cerflow.feedback.schemas import FeedbackCreate, FeedbackOut

router = APIRouter(prefix=API_PREFIX, tags=["feedback"], responses={**AUTH_RESPONSES})

ReportRef = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", examples=["42"])
]


@router.post(
    "/reports/{report_id}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def create_feedback(
    report_id: ReportRef, body: FeedbackCreate, user: ViewerUser, session: SessionDep
) -> Feedback:
    return service.create(
        session=session,
        principal=user,
        report_id=report_id,
        rating=body.rating,
        comment=body.comment,
    )


@router.get("/feedback", response_model=list[FeedbackOut])
def list_feedback(
    _admin: AdminUser,
    session: SessionDep,
    report_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Feedback]:
    return service.list_recent(session=session, report_ref=report_id, limit=limit, offset=offset)
