"""Refresh a watched product and raise alerts for what is new since the last refresh.

An alert's `dedup_key` names the product and the signal (event term) or anomalous month;
(user, dedup_key) is unique, so a signal that persists across refreshes alerts once.
Delivery (WebSocket event, webhooks, e-mail) happens after the job commits.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cerflow.alerts.models import Alert, WatchRefresh
from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.errors import ForbiddenError, NotFoundError
from cerflow.jobs.context import JobContext
from cerflow.jobs.models import utcnow
from cerflow.jobs.pipelines import Finalizer, run_analysis, run_ingest

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


def refresh_watched(ctx: JobContext) -> tuple[dict[str, Any], Finalizer | None]:
    params = ctx.params
    result: dict[str, Any] = {}
    if params.get("ingest", True):
        ctx.progress(5, "fetching new data")
        result["ingest"], _ = run_ingest(ctx)
    ctx.progress(60, "re-running the analysis")
    summary, _ = run_analysis(ctx)
    kind, ref = summary["product_kind"], summary["product_ref"]
    candidates = candidate_alerts(kind, ref, summary)
    result["candidates"] = len(candidates)
    watched_id = params.get("watched_id")
    owner = ctx.lease.owner_id
    events: list[dict[str, Any]] = []

    def finalize(session: Session) -> None:
        if owner is not None:
            for alert in record_alerts(
                session=session, user_id=owner, watched_id=watched_id, candidates=candidates
            ):
                events.append(alert_event(alert))
        if watched_id is not None:
            state = session.get(WatchRefresh, watched_id)
            if state is None:
                state = WatchRefresh(watched_id=watched_id)
                session.add(state)
            state.last_refreshed_at = utcnow()
            state.last_job_id = ctx.job_id
            state.last_error = None

    def deliver() -> None:
        from cerflow.alerts.delivery import deliver_alert

        for event in events:
            deliver_alert(settings=ctx.settings, factory=ctx.factory, event=event)

    ctx.after_success.append(deliver)
    return result, finalize


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
