"""`JobSubmitter` implementations: Celery on Redis, or an in-process thread pool.

Both write the job row in the caller's transaction and start the work only after it
commits, through `cerflow.jobs.routing.send_job`: the row is written already marked as
sent, so if the process dies between commit and send, the sweeper sends it after the
bound. The in-process pool speaks Celery's `send_task` for that, so the submit, resend,
recovery and sweep paths are the same for both.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.db import make_engine, make_session_factory
from cerflow.jobs import service as jobs
from cerflow.jobs.interface import JobHandle, JobSubmitter
from cerflow.jobs.models import Job
from cerflow.jobs.routing import RUN_TASK, TaskSender, send_job

if TYPE_CHECKING:
    from celery import Celery

log = structlog.get_logger(__name__)


def _submit(
    session: Session,
    app: TaskSender,
    settings: Settings,
    kind: str,
    payload: dict[str, Any],
    requested_by: int | None,
    idempotency_key: str | None,
) -> JobHandle:
    """The job row in the caller's transaction; a new job is sent once it commits."""
    job, created = jobs.create(
        session=session,
        type=kind,
        params=payload,
        owner_id=requested_by,
        idempotency_key=idempotency_key,
    )
    if created:
        send_job(session, job, app=app, settings=settings)
    return JobHandle(id=job.id, kind=job.type, state=job.state)


class CelerySubmitter:
    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.settings = settings
        self._app = app

    @property
    def app(self) -> Celery:
        """A producer for these settings: it sends by task name and holds no task code."""
        if self._app is None:
            # Celery (and kombu, yaml) load with the first job, not with the API process.
            from cerflow.jobs.celery_app import make_celery

            self._app = make_celery(self.settings)
        return self._app

    def submit(
        self,
        *,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        requested_by: int | None,
        idempotency_key: str | None = None,
    ) -> JobHandle:
        return _submit(
            session, self.app, self.settings, kind, payload, requested_by, idempotency_key
        )

    def resend(self, *, session: Session, job: Job) -> None:
        """After a manual retry: a fresh task id, sent once the reset commits."""
        send_job(session, job, app=self.app, settings=self.settings)

    def revoke(self, task_id: str | None) -> None:
        if not task_id:
            return
        try:
            self.app.control.revoke(task_id)
        except Exception as exc:  # the cooperative check in progress() still stops it
            log.warning("job_revoke_failed", error=type(exc).__name__)


class InProcessSubmitter:
    """Embedded default: the same task functions in a small thread pool, retries on timers."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        factory: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self._factory = factory
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.jobs_inprocess_workers), thread_name_prefix="cerflow-job"
        )
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(settings=self.settings)
        return self._engine

    @property
    def factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            self._factory = make_session_factory(self.engine)
        return self._factory

    def _run(self, job_id: str) -> None:
        # The task implementations (report rendering, statistics) load with the first job:
        # an API process that never runs one never pays for them.
        from cerflow.jobs.registry import PIPELINES
        from cerflow.jobs.runner import execute

        try:
            outcome = execute(
                job_id,
                settings=self.settings,
                engine=self.engine,
                factory=self.factory,
                pipelines=PIPELINES,
            )
        except Exception:
            log.exception("inprocess_job_crashed", job_id=job_id)
            return
        if outcome.action in ("retry", "recheck"):
            self._later(outcome.countdown, job_id)

    def _later(self, delay: float, job_id: str) -> None:
        with self._lock:
            if self._closed:
                return
            timer = threading.Timer(delay, self.send, args=(job_id,))
            timer.daemon = True
            self._timers.add(timer)
        timer.start()

    def send_later(self, delay: float, job_id: str) -> None:
        """Run the job after `delay` seconds (now when 0), e.g. a retry recovered at start-up."""
        if delay <= 0:
            self.send(job_id)
        else:
            self._later(delay, job_id)

    def send_task(
        self, name: str, args: Any = None, countdown: float | None = None, **_: Any
    ) -> None:
        """Celery's `send_task`, for `send_job`: runs job `args[0]` in this pool."""
        if name != RUN_TASK or not args:
            raise ValueError(f"the in-process runner runs jobs ({RUN_TASK}), not {name!r}")
        self.send_later(countdown or 0.0, str(args[0]))

    def send(self, job_id: str, *_: object) -> None:
        with self._lock:
            if self._closed:
                return
            self._pool.submit(self._run, job_id)

    def submit(
        self,
        *,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        requested_by: int | None,
        idempotency_key: str | None = None,
    ) -> JobHandle:
        return _submit(session, self, self.settings, kind, payload, requested_by, idempotency_key)

    def resend(self, *, session: Session, job: Job) -> None:
        send_job(session, job, app=self, settings=self.settings)

    def revoke(self, task_id: str | None) -> None:
        """Nothing to revoke: the running step notices the cancelled state at its next step."""

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def make_submitter(settings: Settings) -> JobSubmitter:
    """Celery when a broker is configured, the in-process pool otherwise."""
    if settings.effective_broker_url:
        return CelerySubmitter(settings)
    return InProcessSubmitter(settings)
