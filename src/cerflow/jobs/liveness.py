"""Is the worker's consumer loop turning, and is beat ticking?

The health port is served by a side thread, which answers as long as the process exists:
a consumer stuck on a dead broker socket or a deadlock would look alive. So the consumer
loop itself stamps a heartbeat (a timer entry of its event loop: it fires only while the
loop turns), and `/health/live` fails when the stamp is older than the limit.

Beat runs no HTTP server; its scheduler touches a file on every tick (at least once per
`beat_max_loop_interval`), and `cerflow beat-check` (the Kubernetes exec probe) fails
when the file is older than the limit, so a wedged beat is restarted instead of silently
stopping the sweeper and the refreshes.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

HEARTBEAT_SECONDS = 5.0
BEAT_ALIVE_FILE = "beat-alive"

_last_beat: float | None = None
_started = time.monotonic()


def stamp() -> None:
    global _last_beat
    _last_beat = time.monotonic()


def consumer_age() -> float | None:
    """Seconds since the consumer loop last turned; None before its first turn."""
    return None if _last_beat is None else time.monotonic() - _last_beat


def consumer_alive(max_age: float, startup_grace: float) -> tuple[bool, dict[str, Any]]:
    age = consumer_age()
    if age is None:  # still starting (imports, broker connection)
        up = time.monotonic() - _started
        return up < startup_grace, {"consumer": "starting", "uptime_seconds": round(up, 1)}
    return age < max_age, {"consumer_heartbeat_age_seconds": round(age, 1)}


class ConsumerHeartbeat(bootsteps.StartStopStep):  # type: ignore[misc]  # celery: no types
    """A consumer step: stamps the heartbeat from the consumer's own event loop."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        stamp()
        self.tref = parent.timer.call_repeatedly(HEARTBEAT_SECONDS, stamp)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


def beat_alive_path(schedule: Path) -> Path:
    return schedule.parent / BEAT_ALIVE_FILE


class TouchingScheduler(PersistentScheduler):  # type: ignore[misc]  # celery: no types
    """Celery's persistent scheduler that touches `beat-alive` beside its schedule file."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        alive = beat_alive_path(Path(self.schedule_filename))
        # A failed touch makes the probe fail, which is the point: beat cannot write.
        with contextlib.suppress(OSError):
            alive.touch()
        return float(super().tick(*args, **kwargs))


def beat_file_age(schedule: Path) -> float | None:
    try:
        return time.time() - os.path.getmtime(beat_alive_path(schedule))
    except OSError:
        return None


CONSUMER_AGE_GAUGE = "cerflow_worker_consumer_heartbeat_age_seconds"


class ConsumerHeartbeatCollector:
    """Serves the consumer loop's heartbeat age on the worker's `/metrics` (a live
    collector: it describes this process, the one running the consumer). Before the first
    turn it reports the time since start, so a worker stuck while starting ages too."""

    def describe(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(CONSUMER_AGE_GAUGE, "")

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        age = consumer_age()
        if age is None:
            age = time.monotonic() - _started
        family = GaugeMetricFamily(
            CONSUMER_AGE_GAUGE,
            "Seconds since the worker's consumer loop last turned (its liveness heartbeat)",
        )
        family.add_metric([], round(age, 3))
        yield family
