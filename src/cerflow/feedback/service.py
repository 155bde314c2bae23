"""Feedback on reports: only on a report the caller can read.

Before, any viewer could post feedback on any id, including other users' reports and ids
that do not exist (201), which both polluted what admins read and told an attacker which
report ids exist nowhere near as cleanly as a uniform 404 does.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cerflow.auth.service import Principal
from cerflow.errors import NotFoundError
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
    if reports_service.visible(session=session, principal=principal, report_id=report_id) is None:
        raise NotFoundError(reports_service.not_found_message(report_id))
    item = Feedback(report_ref=report_id, user_id=principal.user_id, rating=rating, comment=comment)
    session.add(item)
    session.flush()
    return item
