"""Feedback on reports: only on a report the caller can read; read back newest first.

Before, any viewer could post feedback on any id, including other users' reports and ids
that do not exist (201), which polluted what admins read and let a caller probe ids.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.feedback.models import Feedback
from cerflow.reports import service as reports_service


def create(
    *,
    session: Session,
    principal: Principal,
    report_id: str,
    rating: int,
    comment: str | None,
) -> Feedback:
    """Store feedback; `NotFoundError` (404, the same as reading it) if the caller cannot
    read the report."""
    reports_service.visible(
        session=session,
        report_id=report_id,
        user_id=principal.user_id,
        is_admin=principal.role == Role.ADMIN,
    )
    item = Feedback(report_ref=report_id, user_id=principal.user_id, rating=rating, comment=comment)
    session.add(item)
    session.flush()
    return item


def list_recent(
    *, session: Session, report_ref: str | None, limit: int, offset: int
) -> list[Feedback]:
    stmt = select(Feedback).order_by(Feedback.id.desc()).limit(limit).offset(offset)
    if report_ref is not None:
        stmt = stmt.where(Feedback.report_ref == report_ref)
    return list(session.scalars(stmt))
