"""Alerts from an analysis summary: which are new for a user, and their event payload.

An alert's `dedup_key` names the product and the signal (event term) or anomalous month;
(user, dedup_key) is unique, so a signal that persists across refreshes alerts once.
The refresh job that raises them is `cerflow.alerts.tasks.run_refresh`.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cerflow.alerts.models import Alert
from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.errors import ForbiddenError, NotFoundError
from cerflow.jobs.models import utcnow

log = structlog.get_logger(__name__)


def candidate_alerts(kind: str, ref: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for s in summary.get("signals", []):
        out.append(
            {
                "kind": "signal",
                "dedup_key": f"signal:{kind}:{ref}:{s['event']}"[:400],
                "title": f"New signal for {ref}: {s['event']} ({', '.join(s['flags'])})",
                "payload": {"product_kind": kind, "product_ref": ref, **s},
            }
        )
    for a in summary.get("anomalies", []):
        out.append(
            {
                "kind": "anomaly",
                "dedup_key": f"anomaly:{kind}:{ref}:{a['month']}"[:400],
                "title": f"Anomalous month for {ref}: {a['month']} "
                f"({a['observed']} reports, {a['expected']:.1f} expected)",
                "payload": {"product_kind": kind, "product_ref": ref, **a},
            }
        )
    return out


def without_refuted(candidates: list[dict[str, Any]], refuted: set[str]) -> list[dict[str, Any]]:
    """A signal a reviewer refuted is not news: it raises no alert until the newest decision
    on it changes (`refuted` holds casefolded event terms, see `signal_reviews.service`)."""
    return [
        c
        for c in candidates
        if not (
            c["kind"] == "signal"
            and " ".join(str(c["payload"].get("event", "")).split()).casefold() in refuted
        )
    ]


def record_alerts(
    *, session: Session, user_id: int, watched_id: int | None, candidates: list[dict[str, Any]]
) -> list[Alert]:
    """Insert the ones this user has not had yet; returns the new alerts."""
    existing = set(
        session.scalars(
            select(Alert.dedup_key).where(
                Alert.user_id == user_id,
                Alert.dedup_key.in_([c["dedup_key"] for c in candidates] or [""]),
            )
        )
    )
    new: list[Alert] = []
    for c in candidates:
        if c["dedup_key"] in existing:
            continue
        alert = Alert(
            user_id=user_id, watched_id=watched_id, product_ref=c["payload"]["product_ref"], **c
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:  # a concurrent refresh raised it first
            continue
        new.append(alert)
    return new


def alert_event(alert: Alert) -> dict[str, Any]:
    return {
        "type": "alert",
        "id": f"alert-{alert.id}",
        "alert_id": alert.id,
        "user_id": alert.user_id,
        "kind": alert.kind,
        "product_ref": alert.product_ref,
        "title": alert.title,
        "payload": alert.payload,
        "created_at": alert.created_at.isoformat(),
    }


# --- a user's alerts, for the HTTP endpoints -------------------------------------------


def list_for(
    *,
    session: Session,
    principal: Principal,
    user_id: int | None,
    unacknowledged: bool,
    limit: int,
    offset: int,
) -> list[Alert]:
    """The caller's alerts, or (admin only) another user's, newest first."""
    owner = principal.user_id
    if user_id is not None and user_id != principal.user_id:
        if not principal.role.allows(Role.ADMIN):
            raise ForbiddenError("only an admin may list another user's alerts; omit user_id")
        owner = user_id
    stmt = select(Alert).where(Alert.user_id == owner)
    if unacknowledged:
        stmt = stmt.where(Alert.acknowledged_at.is_(None))
    # ids grow with time: newest first, stable across pages.
    return list(session.scalars(stmt.order_by(Alert.id.desc()).limit(limit).offset(offset)))


def acknowledge(*, session: Session, user_id: int, alert_id: int) -> Alert:
    """Only the owner acknowledges, so an ack means the person warned has seen it."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.user_id != user_id:
        raise NotFoundError(f"no alert with id {alert_id} among your alerts")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        session.flush()
    return alert
