"""Beat entries for watched-product refreshes, and the task that starts the due ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.alerts.models import WatchRefresh
from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.models import ACTIVE_STATES, Job, utcnow
from cerflow.products.models import WatchedProduct

log = structlog.get_logger(__name__)


def beat_entries(settings: Settings) -> dict[str, Any]:
    from cerflow.jobs.celery_app import SCHEDULE_REFRESHES_TASK

    every = max(30.0, min(600.0, settings.watch_refresh_interval_seconds / 4))
    return {"cerflow-watch-refresh": {"task": SCHEDULE_REFRESHES_TASK, "schedule": every}}


def due_watches(*, session: Session, settings: Settings) -> list[WatchedProduct]:
    cutoff = utcnow() - dt.timedelta(seconds=settings.watch_refresh_interval_seconds)
    rows = session.execute(
        select(WatchedProduct, WatchRefresh)
        .outerjoin(WatchRefresh, WatchRefresh.watched_id == WatchedProduct.id)
        .order_by(WatchedProduct.id)
    ).all()
    due = []
    for watch, state in rows:
        if state is None or state.last_refreshed_at is None or state.last_refreshed_at < cutoff:
            if state is not None and state.last_job_id:
                last = session.get(Job, state.last_job_id)
                if last is not None and last.state in ACTIVE_STATES:
                    continue
            due.append(watch)
    return due


def schedule_due_refreshes(
    *, settings: Settings, factory: sessionmaker[Session], app: Celery
) -> int:
    """One refresh job per due watch; the idempotency key makes a double beat harmless."""
    from cerflow.jobs.celery_app import RUN_TASK, queue_for

    sent: list[tuple[str, str]] = []
    now = utcnow()
    slot = int(now.timestamp() // max(1, settings.watch_refresh_interval_seconds))
    with factory() as session:
        for watch in due_watches(session=session, settings=settings):
            job, created = jobs.create(
                session=session,
                type="refresh",
                params={
                    "watched_id": watch.id,
                    "product_kind": watch.kind,
                    "product_ref": watch.product_ref,
                },
                owner_id=watch.user_id,
                idempotency_key=f"refresh:{watch.id}:{slot}",
            )
            state = session.get(WatchRefresh, watch.id)
            if state is None:
                state = WatchRefresh(watched_id=watch.id)
                session.add(state)
            state.last_job_id = job.id
            if created:
                job.task_id = f"{job.id}-1"
                job.sends = 1
                job.sent_at = now
                sent.append((job.id, job.task_id))
        session.commit()
    for job_id, task_id in sent:
        try:
            app.send_task(
                RUN_TASK, args=[job_id], task_id=task_id, queue=queue_for(settings, "refresh")
            )
        except Exception as exc:  # the sweeper sends it later
            log.warning("refresh_send_failed", job_id=job_id, error=type(exc).__name__)
    return len(sent)
