"""Feedback on a generated report: whoever can read the report may send it, admins read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select

from cerflow.api import API_PREFIX
from cerflow.api.deps import AdminUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, NOT_FOUND, TOO_LARGE
from cerflow.errors import NotFoundError
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
    responses={**NOT_FOUND, **TOO_LARGE},
)
def create_feedback(
    report_id: ReportRef, body: FeedbackCreate, user: ViewerUser, session: SessionDep
) -> Feedback:
    try:
        return service.create(
            session=session,
            principal=user,
            report_id=report_id,
            rating=body.rating,
            comment=body.comment,
        )
    except NotFoundError as exc:
        raise HTTPException(404, detail=exc.message) from None


@router.get("/feedback", response_model=list[FeedbackOut])
def list_feedback(
    _admin: AdminUser,
    session: SessionDep,
    report_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Feedback]:
    stmt = select(Feedback).order_by(Feedback.id.desc()).limit(limit).offset(offset)
    if report_id is not None:
        stmt = stmt.where(Feedback.report_ref == report_id)
    return list(session.scalars(stmt))
