"""What the API process runs beside the HTTP app: table metrics, and in embedded mode the
recovery and sweeping that Celery beat does otherwise.

With no broker, the in-process pool is the only executor, and it forgets everything when
the process stops: a job queued or waiting for a retry at that moment would stay queued
for ever. So at start-up every queued or retrying job is sent to the pool again (a
retrying one when its retry falls due), and a thread runs the sweeper's logic every
`jobs_sweep_interval_seconds` for jobs whose worker thread died mid-run. Claims are
guarded by state and lease, so sending a job another process already runs is harmless.
"""

from __future__ import annotations

import datetime as dt
import threading

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs.interface import JobSubmitter
from cerflow.jobs.metrics import TableCollector
from cerflow.jobs.models import Job, utcnow
from cerflow.jobs.routing import send_job
from cerflow.jobs.submitters import InProcessSubmitter
from cerflow.jobs.sweeper import sweep
from cerflow.observability.metrics import add_live_collector, remove_live_collector
from cerflow.unit_of_work import unit_of_work

log = structlog.get_logger(__name__)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def recover(*, settings: Settings, submitter: InProcessSubmitter) -> int:
    """Re-send what a previous process left queued, retrying or running without a beat.

    A running job with a fresh heartbeat is left alone: another process may hold it, and
    if not, its heartbeat goes stale and the sweeper thread re-sends it. Returns how many
    jobs were sent.
    """
    now = utcnow()
    stale = now - dt.timedelta(seconds=settings.jobs_stale_after_seconds)
    sent = 0
    with unit_of_work(submitter.factory) as session:
        rows = session.scalars(
            select(Job)
            .where(Job.state.in_(("queued", "retrying", "running")))
            .order_by(Job.created_at)
        ).all()
        for job in rows:
            beat = _aware(job.heartbeat_at)
            if job.state == "running" and beat is not None and beat >= stale:
                continue
            delay = 0.0
            if job.state == "retrying" and beat is not None:
                delay = max(0.0, (beat - now).total_seconds())
            send_job(session, job, app=submitter, settings=settings, countdown=delay)
            sent += 1
    if sent:
        log.warning("jobs_recovered", count=sent)
    return sent


class _SweeperThread:
    def __init__(self, settings: Settings, submitter: InProcessSubmitter) -> None:
        self.settings = settings
        self.submitter = submitter
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="cerflow-sweeper")

    def _run(self) -> None:
        while not self.stopped.wait(self.settings.jobs_sweep_interval_seconds):
            self.sweep_once()

    def sweep_once(self) -> int:
        try:
            return sweep(settings=self.settings, factory=self.submitter.factory, app=self.submitter)
        except Exception as exc:  # database hiccup: the next round tries again
            log.warning("embedded_sweep_failed", error=type(exc).__name__)
            return 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


class JobLayer:
    """Started and stopped by the app's lifespan."""

    def __init__(
        self, settings: Settings, factory: sessionmaker[Session], submitter: JobSubmitter
    ) -> None:
        self.settings = settings
        self.collector = TableCollector(factory)
        self.submitter = submitter
        self.sweeper: _SweeperThread | None = None

    @property
    def embedded(self) -> bool:
        return isinstance(self.submitter, InProcessSubmitter)

    def start(self) -> None:
        add_live_collector(self.collector)
        if not isinstance(self.submitter, InProcessSubmitter):
            return
        try:
            recover(settings=self.settings, submitter=self.submitter)
        except Exception as exc:  # the sweeper thread picks them up once the DB answers
            log.warning("jobs_recovery_failed", error=type(exc).__name__)
        self.sweeper = _SweeperThread(self.settings, self.submitter)
        self.sweeper.start()

    def stop(self) -> None:
        """Running jobs finish in their threads (or are recovered at the next start)."""
        remove_live_collector(self.collector)
        if self.sweeper is not None:
            self.sweeper.stop()
        if isinstance(self.submitter, InProcessSubmitter):
            self.submitter.shutdown(wait=False)
