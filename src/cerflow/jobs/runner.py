"""Run one delivery of a job: claim it, run its pipeline, record the outcome.

Both executors call `execute()`: the Celery task and the in-process pool, each with the
job-type table of `cerflow.jobs.registry`. It returns what the executor must do next
(nothing, retry after a delay, or check back later because another worker holds a live
lease); it never raises for a job's own failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs import events
from cerflow.jobs import service as jobs
from cerflow.jobs.context import JobContext, Pipeline
from cerflow.jobs.errors import (
    ContendedJobError,
    JobAborted,
    PermanentJobError,
    backoff_seconds,
    describe,
    is_transient,
)
from cerflow.jobs.metrics import JOB_DURATION, JOB_RETRIES, JOBS_FINISHED
from cerflow.jobs.routing import TaskSender
from cerflow.store import all_models  # noqa: F401  (every table known to the mapper)

log = structlog.get_logger(__name__)

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Outcome:
    action: Literal["done", "retry", "recheck"]
    countdown: float = 0.0
    state: str = ""


class _Heartbeat:
    """Keeps the lease fresh while a long step (e.g. PDF rendering) runs without progress."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="job-heartbeat")

    def _run(self) -> None:
        while not self.stop.wait(self.ctx.settings.jobs_heartbeat_seconds):
            try:
                self.ctx.heartbeat()
            except JobAborted:
                return
            except Exception as exc:  # DB hiccup: the next beat tries again
                log.warning(
                    "job_heartbeat_failed", job_id=self.ctx.job_id, error=type(exc).__name__
                )

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _emit(
    settings: Settings, job_id: str, owner_id: int | None, state: str, **extra: object
) -> None:
    events.publish(
        settings,
        {"type": "job.state", "job_id": job_id, "user_id": owner_id, "state": state, **extra},
    )


def _observe(job_type: str, state: str, started: float) -> None:
    JOB_DURATION.labels(type=job_type, state=state).observe(time.monotonic() - started)
    from cerflow.observability.runtime_metrics import sample_process

    sample_process("worker")
    if state in ("succeeded", "failed"):
        JOBS_FINISHED.labels(type=job_type, state=state).inc()
    elif state == "retrying":
        JOB_RETRIES.labels(type=job_type).inc()


def execute(
    job_id: str,
    *,
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    pipelines: Mapping[str, Pipeline],
    sender: TaskSender | None = None,
    max_retries: int | None = None,
) -> Outcome:
    """`sender` is where the job's follow-up tasks go (the worker's Celery app).

    Every line logged while the job runs (ours, the sources', httpx's) carries its job
    id, and once claimed its type and owner, through contextvars.
    """
    with structlog.contextvars.bound_contextvars(job_id=job_id, job_type=None, user_id=None):
        return _execute(
            job_id,
            settings=settings,
            engine=engine,
            factory=factory,
            pipelines=pipelines,
            sender=sender,
            max_retries=max_retries,
        )


def _execute(
    job_id: str,
    *,
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    pipelines: Mapping[str, Pipeline],
    sender: TaskSender | None,
    max_retries: int | None,
) -> Outcome:
    max_retries = settings.jobs_max_retries if max_retries is None else max_retries
    with factory() as session:
        status, lease = jobs.claim(
            session=session,
            job_id=job_id,
            worker=WORKER_NAME,
            stale_after=settings.jobs_stale_after_seconds,
        )
    if status == "missing":
        log.warning("job_missing", job_id=job_id)
        return Outcome("done", state="missing")
    if status == "finished":
        return Outcome("done", state="finished")
    if status == "busy" or lease is None:
        return Outcome("recheck", countdown=settings.jobs_stale_after_seconds, state="busy")

    structlog.contextvars.bind_contextvars(job_type=lease.type, user_id=lease.owner_id)
    started = time.monotonic()
    log.info("job_started", job_id=job_id, type=lease.type, attempt=lease.attempt)
    _emit(settings, job_id, lease.owner_id, "running", attempt=lease.attempt)
    ctx = JobContext(settings=settings, engine=engine, factory=factory, lease=lease, sender=sender)
    pipeline = pipelines.get(lease.type)
    try:
        if pipeline is None:
            raise PermanentJobError(f"no pipeline for job type {lease.type!r}")
        with _Heartbeat(ctx):
            result, finalize = pipeline(ctx)
        with factory() as session:
            if not jobs.succeed(session=session, lease=lease, result=result):
                session.rollback()
                log.info("job_result_discarded", job_id=job_id, reason="lease lost")
                _observe(lease.type, "aborted", started)
                return Outcome("done", state="aborted")
            if finalize is not None:
                finalize(session)
            session.commit()
    except JobAborted:
        log.info("job_aborted", job_id=job_id)
        _observe(lease.type, "aborted", started)
        return Outcome("done", state="aborted")
    except Exception as exc:
        message = describe(exc, settings)
        if is_transient(exc) and (
            lease.attempt <= max_retries or isinstance(exc, ContendedJobError)
        ):
            countdown = backoff_seconds(
                lease.attempt,
                base=settings.jobs_retry_backoff_seconds,
                cap=settings.jobs_retry_backoff_max_seconds,
            )
            with factory() as session:
                jobs.schedule_retry(
                    session=session, lease=lease, error=message, countdown=countdown
                )
            _observe(lease.type, "retrying", started)
            log.warning("job_retrying", job_id=job_id, attempt=lease.attempt, error=message)
            _emit(settings, job_id, lease.owner_id, "retrying", error=message)
            return Outcome("retry", countdown=countdown, state="retrying")
        if is_transient(exc):
            message = f"gave up after {lease.attempt} attempts: {message}"
        with factory() as session:
            failed = jobs.fail(session=session, lease=lease, error=message)
        _observe(lease.type, "failed" if failed else "aborted", started)
        log.warning("job_failed", job_id=job_id, attempt=lease.attempt, error=message)
        _emit(settings, job_id, lease.owner_id, "failed", error=message)
        return Outcome("done", state="failed")
    _observe(lease.type, "succeeded", started)
    log.info("job_succeeded", job_id=job_id, attempt=lease.attempt)
    _emit(settings, job_id, lease.owner_id, "succeeded", progress=100, result=result)
    for callback in ctx.after_success:
        try:
            callback()
        except Exception as exc:
            log.warning("job_after_success_failed", job_id=job_id, error=describe(exc, settings))
    return Outcome("done", state="succeeded")
