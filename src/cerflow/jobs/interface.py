"""The seam between the API and the job layer.

The API asks a `JobSubmitter` to start work and answers with the returned handle; it
does not know whether Celery, an in-process runner or a test recorder is behind it.
`create_app(job_submitter=...)` chooses the implementation (default: `RecordingSubmitter`
until the job layer provides its own).

Contract for implementations:
- `submit` is called inside the request's transaction. Write the job row with `session`
  (so it commits or rolls back with the request) and send anything to a broker only from
  `cerflow.unit_of_work.on_commit(session, ...)`, so a rolled-back request never starts a job.
- `idempotency_key`: submitting twice with the same key returns the first job.
- `kind` is one of `JOB_KINDS`; `payload` is JSON-serializable.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from cerflow.unit_of_work import on_commit

JOB_KINDS = ("ingest", "analysis", "report", "literature")


@dataclass(frozen=True)
class JobHandle:
    id: str
    kind: str
    state: str  # queued | running | succeeded | failed | cancelled


@dataclass(frozen=True)
class JobSubmission:
    job_id: str
    kind: str
    payload: dict[str, Any]
    requested_by: int | None
    idempotency_key: str | None


@runtime_checkable
class JobSubmitter(Protocol):
    def submit(
        self,
        *,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        requested_by: int | None,
        idempotency_key: str | None = None,
    ) -> JobHandle: ...


@dataclass
class RecordingSubmitter:
    """In-process stand-in: records each submission once its transaction commits."""

    submitted: list[JobSubmission] = field(default_factory=list)
    _by_key: dict[str, JobHandle] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(
        self,
        *,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        requested_by: int | None,
        idempotency_key: str | None = None,
    ) -> JobHandle:
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {JOB_KINDS}")
        with self._lock:
            if idempotency_key and idempotency_key in self._by_key:
                return self._by_key[idempotency_key]
        handle = JobHandle(id=uuid.uuid4().hex, kind=kind, state="queued")
        record = JobSubmission(handle.id, kind, dict(payload), requested_by, idempotency_key)

        def _record() -> None:
            with self._lock:
                self.submitted.append(record)
                if idempotency_key:
                    self._by_key[idempotency_key] = handle

        on_commit(session, _record)
        return handle
