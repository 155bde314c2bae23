"""Feedback on generated reports: stored as sent, read back newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cerflow.feedback.models import Feedback


def create(
    *, session: Session, report_ref: str, user_id: int, rating: int, comment: str | None
) -> Feedback:
    item = Feedback(report_ref=report_ref, user_id=user_id, rating=rating, comment=comment)
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
