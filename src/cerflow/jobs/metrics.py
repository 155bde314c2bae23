"""Job and webhook metrics: counters where the work happens, gauges read from the tables.

Counters and the duration histogram are incremented by whichever process runs the job (a
Celery worker child, or the API in embedded mode); they are labelled so that their values
are created after a fork, which multiprocess mode needs. Jobs per state and disabled
webhooks are not counters anyone could keep consistent across processes: the tables are
the truth, so `TableCollector` reads them at scrape time (one `GROUP BY state` and one
count), and only the API's `/metrics` serves it (each replica answers the same numbers,
so rules take `max`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import structlog
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.backups.models import BackupRun
from cerflow.jobs.models import ACTIVE_STATES, JOB_STATES, Job, utcnow
from cerflow.webhooks.models import Webhook

log = structlog.get_logger(__name__)

JOBS_FINISHED = Counter(
    "cerflow_jobs_finished_total",
    "Jobs that reached a final state, by type and state (succeeded, failed)",
    ["type", "state"],
)
JOB_RETRIES = Counter(
    "cerflow_job_retries_total", "Transient failures scheduled for another attempt", ["type"]
)
JOB_DURATION = Histogram(
    "cerflow_job_duration_seconds",
    "Time of one execution of a job, from claim to outcome (succeeded, failed, retrying, aborted)",
    ["type", "state"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
WEBHOOK_DELIVERIES = Counter(
    "cerflow_webhook_deliveries_total",
    "Webhook delivery attempts by result (delivered, failed, disabled = this failure "
    "disabled the hook)",
    ["result"],
)

JOBS_GAUGE = "cerflow_jobs"
OLDEST_GAUGE = "cerflow_jobs_oldest_age_seconds"
WEBHOOKS_DISABLED_GAUGE = "cerflow_webhooks_disabled"
BACKUP_GAUGE = "cerflow_backup_last_success_timestamp_seconds"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _families() -> tuple[
    GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
]:
    return (
        GaugeMetricFamily(JOBS_GAUGE, "Jobs in the jobs table by state", labels=["state"]),
        GaugeMetricFamily(
            OLDEST_GAUGE,
            "Active jobs: seconds since the oldest queued job was created, or since the "
            "stalest heartbeat of a running job (retrying: since its retry fell due)",
            labels=["state"],
        ),
        GaugeMetricFamily(
            WEBHOOKS_DISABLED_GAUGE, "Webhooks disabled after repeated failed deliveries"
        ),
        GaugeMetricFamily(
            BACKUP_GAUGE,
            "Unix time the newest successful `cerflow backup create` finished (0: never)",
        ),
    )


class TableCollector:
    """A prometheus_client collector over the jobs and webhooks tables."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def describe(self) -> Iterator[Metric]:
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        jobs, oldest, disabled, backup = _families()
        # queued: waiting since creation (re-sends refresh sent_at, so it would never age);
        # running/retrying: the heartbeat (a retry's heartbeat is when it falls due).
        since = case((Job.state == "queued", Job.created_at), else_=Job.heartbeat_at)
        try:
            with self.factory() as session:
                rows = session.execute(
                    select(Job.state, func.count(), func.min(since)).group_by(Job.state)
                ).all()
                n_disabled = session.scalar(
                    select(func.count()).select_from(Webhook).where(Webhook.active.is_(False))
                )
                last_backup = session.scalar(
                    select(func.max(BackupRun.finished_at)).where(BackupRun.ok.is_(True))
                )
        except Exception as exc:  # a scrape must not fail because the database does
            log.warning("metrics_table_read_failed", error=type(exc).__name__)
            return
        now = utcnow()
        counts = dict.fromkeys(JOB_STATES, 0)
        ages = dict.fromkeys(ACTIVE_STATES, 0.0)
        for state, count, first in rows:
            counts[state] = int(count)
            first = _aware(first)
            if state in ages and first is not None:
                ages[state] = max(0.0, (now - first).total_seconds())
        for state, count in counts.items():
            jobs.add_metric([state], count)
        for state, age in ages.items():
            oldest.add_metric([state], age)
        disabled.add_metric([], int(n_disabled or 0))
        last_backup = _aware(last_backup)
        backup.add_metric([], last_backup.timestamp() if last_backup is not None else 0.0)
        yield from (jobs, oldest, disabled, backup)
