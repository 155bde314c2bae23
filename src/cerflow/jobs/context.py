"""What a running job's code may touch: its parameters, progress reporting, the engine.

`progress()` doubles as the cancellation point: when the row says the job was cancelled
(or another worker took it over) it raises `JobAborted` and the step stops. A job type's
function is a `Pipeline`: it gets the context and returns its result (stored on the job
row) and an optional `Finalizer` that writes its rows in the same transaction that marks
the job succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Environment, Settings
from cerflow.jobs import events
from cerflow.jobs import service as jobs
from cerflow.jobs.errors import JobAborted, PermanentJobError, TransientJobError
from cerflow.jobs.routing import TaskSender
from cerflow.jobs.service import Lease

Finalizer = Callable[[Session], None]
JobResult = tuple[dict[str, Any], Finalizer | None]


@dataclass
class JobContext:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    lease: Lease
    # Where follow-up tasks go (e.g. webhook deliveries): the worker's Celery app, or None
    # in the embedded mode, where such work runs in this thread.
    sender: TaskSender | None = None
    # Callbacks run after the job row is committed as succeeded (e.g. alert delivery).
    after_success: list[Callable[[], None]] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    @property
    def params(self) -> dict[str, Any]:
        return self.lease.params

    def progress(self, percent: int, step: str) -> None:
        with self.factory() as session:
            alive = jobs.progress(session=session, lease=self.lease, percent=percent, step=step)
        if not alive:
            raise JobAborted(f"job {self.job_id} was cancelled or taken over")
        events.publish(
            self.settings,
            {
                "type": "job.progress",
                "job_id": self.job_id,
                "user_id": self.lease.owner_id,
                "state": "running",
                "progress": percent,
                "step": step,
            },
        )

    def heartbeat(self) -> None:
        with self.factory() as session:
            if not jobs.heartbeat(session=session, lease=self.lease):
                raise JobAborted(f"job {self.job_id} was cancelled or taken over")

    def sleep(self, seconds: float) -> None:
        """Wait while keeping the lease alive (and noticing a cancellation)."""
        end = time.monotonic() + seconds
        beat = max(0.2, min(self.settings.jobs_heartbeat_seconds, 1.0))
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(beat, left))
            self.heartbeat()

    def fault(self, step: str) -> None:
        """Test-only fault injection, honoured only in the testing environment."""
        if not (
            self.settings.jobs_allow_fault_injection
            and self.settings.environment == Environment.TESTING
        ):
            return
        spec = self.params.get("_fault") or {}
        if not isinstance(spec, dict):
            return
        delay = (spec.get("delay") or {}).get(step)
        if delay:
            self.sleep(float(delay))
        if spec.get("step", "start") != step:
            return
        if self.lease.attempt <= int(spec.get("transient_attempts", 0)):
            raise TransientJobError(
                f"injected transient failure at {step} (attempt {self.lease.attempt})"
            )
        if spec.get("permanent"):
            raise PermanentJobError(str(spec["permanent"]))


Pipeline = Callable[[JobContext], JobResult]
