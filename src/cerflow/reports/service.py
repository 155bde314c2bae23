"""Report access rules shared by every endpoint that touches a report."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.reports.models import CerReport


def visible(*, session: Session, principal: Principal, report_id: str) -> CerReport | None:
    """The report if `principal` may read it (its owner, or an admin), else None.

    Callers answer None with the same 404 whether the report is someone else's or does not
    exist, so ids cannot be probed."""
    report = session.get(CerReport, report_id)
    if report is None or (report.owner_id != principal.user_id and principal.role != Role.ADMIN):
        return None
    return report


def not_found_message(report_id: str) -> str:
    return f"no report with id {report_id}"
