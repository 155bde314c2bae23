"""Runtime metrics: requests in flight, DB pool use, source fetches, rate-limit waits,
report build time, per-process memory, beat's sweeper runs.

Every metric here works in multiprocess mode (uvicorn workers, Celery's prefork pool):
each has labels, so its values are created on first use, after `enable_multiprocess` or
the fork, and gauges say how processes combine (`multiprocess_mode`). prometheus_client's
own `process_*` collector reports only the process that answers the scrape, and nothing
at all in multiprocess mode, so `cerflow_process_resident_memory_bytes` (one series per
pid, live processes only) stands in for `process_resident_memory_bytes`.
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

HTTP_IN_FLIGHT = Gauge(
    "cerflow_http_requests_in_flight",
    "HTTP requests (and open WebSockets) being answered now, summed over live processes",
    ["kind"],
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_OUT = Gauge(
    "cerflow_db_pool_checked_out",
    "Database connections checked out of the pool now, summed over live processes",
    ["dialect"],
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "cerflow_db_pool_capacity",
    "Connections the pool may hand out (pool size + max overflow), summed over live processes",
    ["dialect"],
    multiprocess_mode="livesum",
)
SOURCE_FETCHES = Counter(
    "cerflow_source_fetches_total",
    "Requests to a public source (after retries), by source and outcome (ok, not_found, error)",
    ["source", "outcome"],
)
SOURCE_FETCH_DURATION = Histogram(
    "cerflow_source_fetch_duration_seconds",
    "Time of one request to a public source, retries and rate-limit waits included",
    ["source", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RATE_LIMIT_WAIT = Counter(
    "cerflow_source_rate_limit_wait_seconds_total",
    "Seconds spent waiting for the client-side rate limiter of a public source",
    ["source"],
)
REPORT_BUILD = Histogram(
    "cerflow_report_build_duration_seconds",
    "Time of one stage of a report build (facts, narrative, documents), by formats built",
    ["formats", "stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PROCESS_RSS = Gauge(
    "cerflow_process_resident_memory_bytes",
    "Resident memory of each live cerflow process (one series per pid), sampled at most "
    "every 15 s while it works",
    ["role"],
    multiprocess_mode="liveall",
)
SWEEPER_RUNS = Counter(
    "cerflow_sweeper_runs_total",
    "Runs of beat's periodic jobs sweeper (on a worker): stops moving when beat is down",
    ["task"],
)

_RSS_EVERY = 15.0
_rss_sampled: dict[str, float] = {}


def resident_memory_bytes() -> int | None:
    """Current RSS of this process (Linux /proc), None where unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def sample_process(role: str, *, force: bool = False) -> None:
    """Refresh this process's RSS gauge (throttled: cheap to call on every request)."""
    now = time.monotonic()
    if not force and now - _rss_sampled.get(role, -_RSS_EVERY) < _RSS_EVERY:
        return
    _rss_sampled[role] = now
    rss = resident_memory_bytes()
    if rss is not None:
        PROCESS_RSS.labels(role=role).set(rss)


@contextlib.contextmanager
def track_fetch(source: str) -> Iterator[dict[str, str]]:
    """Count and time one request to `source`; the body may set `outcome` (default ok,
    error when it raises)."""
    result = {"outcome": "ok"}
    started = time.perf_counter()
    try:
        yield result
    except BaseException:
        if result["outcome"] == "ok":
            result["outcome"] = "error"
        raise
    finally:
        outcome = result["outcome"]
        SOURCE_FETCHES.labels(source=source, outcome=outcome).inc()
        SOURCE_FETCH_DURATION.labels(source=source, outcome=outcome).observe(
            time.perf_counter() - started
        )


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _pool_numbers(dialect: str) -> tuple[int, int]:
    checked_out = capacity = 0
    for engine in list(_engines):
        if engine.dialect.name != dialect:
            continue
        pool: Any = engine.pool
        with contextlib.suppress(AttributeError, TypeError):
            checked_out += int(pool.checkedout())
            capacity += int(pool.size()) + max(0, int(getattr(pool, "_max_overflow", 0)))
    return checked_out, capacity


_pool_children: dict[str, tuple[Any, Any]] = {}


def _refresh_pool_gauges(dialect: str, returning: int = 0) -> None:
    children = _pool_children.get(dialect)
    if children is None:
        children = _pool_children[dialect] = (
            DB_POOL_CHECKED_OUT.labels(dialect=dialect),
            DB_POOL_CAPACITY.labels(dialect=dialect),
        )
    checked_out, capacity = _pool_numbers(dialect)
    children[0].set(max(0, checked_out - returning))
    children[1].set(capacity)


def instrument_pool(engine: Engine) -> None:
    """Keep this process's pool gauges in step with `engine` (and every other live
    instrumented engine of the same dialect): recomputed at each checkout and checkin, so
    an engine disposed and collected simply drops out."""
    _engines.add(engine)
    dialect = engine.dialect.name

    @event.listens_for(engine, "checkout")
    def _checkout(*_: Any) -> None:
        _refresh_pool_gauges(dialect)

    @event.listens_for(engine, "checkin")
    def _checkin(*_: Any) -> None:
        # SQLAlchemy fires `checkin` before the pool counts the connection returned.
        _refresh_pool_gauges(dialect, returning=1)

    _refresh_pool_gauges(dialect)
