"""Watched products: beat's scheduling of their refreshes, and the refresh job itself.

Beat runs `schedule_refreshes` every few minutes; it creates one "refresh" job per watch
that is due (the idempotency key names the watch and the time slot, so a double beat is
harmless) and sends it with `send_job`. The refresh job imports the product's new data,
re-runs the analysis, and raises alerts for what is new since the last refresh; they are
delivered (WebSocket event, webhooks, e-mail) only after the job commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.alerts.delivery import deliver_alert
from cerflow.alerts.models import WatchRefresh
from cerflow.alerts.service import (
    alert_event,
    candidate_alerts,
    record_alerts,
    without_refuted,
)
from cerflow.config import Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.context import JobContext, JobResult
from cerflow.jobs.models import ACTIVE_STATES, Job, utcnow
from cerflow.jobs.routing import SCHEDULE_REFRESHES_TASK, TaskSender, send_job
from cerflow.jobs.runtime import runtime
from cerflow.products.models import WatchedProduct
from cerflow.products.tasks import run_ingest
from cerflow.reports.tasks import run_analysis
from cerflow.signal_reviews.service import refuted_events
from cerflow.unit_of_work import unit_of_work


def beat_entries(settings: Settings) -> dict[str, Any]:
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
    *, settings: Settings, factory: sessionmaker[Session], app: TaskSender
) -> int:
    """One refresh job per due watch; the idempotency key makes a double beat harmless."""
    slot = int(utcnow().timestamp() // max(1, settings.watch_refresh_interval_seconds))
    created_count = 0
    with unit_of_work(factory) as session:
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
                send_job(session, job, app=app, settings=settings)
                created_count += 1
    return created_count


def schedule_refreshes(task: Task) -> int:
    """Beat's task (`SCHEDULE_REFRESHES_TASK`)."""
    return schedule_due_refreshes(settings=runtime.settings, factory=runtime.factory, app=task.app)


def run_refresh(ctx: JobContext) -> JobResult:
    """The "refresh" job: ingest (unless `ingest` is false), analyse, raise new alerts."""
    job_params = ctx.params
    result: dict[str, Any] = {}
    if job_params.get("ingest", True):
        ctx.progress(5, "fetching new data")
        result["ingest"], _ = run_ingest(ctx)
    ctx.progress(60, "re-running the analysis")
    summary, _ = run_analysis(ctx)
    kind, ref = summary["product_kind"], summary["product_ref"]
    with unit_of_work(ctx.factory) as session:
        refuted = refuted_events(session=session, kind=kind, ref=ref)
    candidates = without_refuted(candidate_alerts(kind, ref, summary), refuted)
    result["candidates"] = len(candidates)
    watched_id = job_params.get("watched_id")
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
        for event in events:
            deliver_alert(
                settings=ctx.settings, factory=ctx.factory, event=event, sender=ctx.sender
            )

    ctx.after_success.append(deliver)
    return result, finalize
