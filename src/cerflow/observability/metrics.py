"""Prometheus metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set.

With several uvicorn workers each process writes its samples to files in that
directory and `/metrics` aggregates them, so a scrape sees the whole server, not
whichever worker answered.

Collectors that read the database at scrape time (jobs per state) are not per-process
samples: `add_live_collector` adds them to what `render_latest` serves, once, whatever
the mode. `enable_multiprocess` lets a process that imported prometheus_client before
choosing a directory (the worker command) still write its samples there.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

HTTP_REQUESTS = Counter(
    "cerflow_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cerflow_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_REQUESTS = Counter(
    "cerflow_cache_requests_total",
    "Cache look-ups by result (hit, miss, bypass when Redis is down)",
    ["namespace", "result"],
)
RATE_LIMITED = Counter("cerflow_rate_limited_total", "Requests refused with 429", ["scope"])
RATE_LIMIT_FAIL_OPEN = Counter(
    "cerflow_rate_limit_fail_open_total", "Requests let through because Redis was down"
)


_live: list[Any] = []
_live_lock = threading.Lock()


def add_live_collector(collector: Any) -> None:
    """Serve `collector` (anything with `collect()`) from `render_latest` until removed."""
    with _live_lock:
        _live.append(collector)


def remove_live_collector(collector: Any) -> None:
    with _live_lock:
        if collector in _live:
            _live.remove(collector)


def enable_multiprocess(directory: str) -> None:
    """Write this process's (and its forked children's) samples under `directory`.

    prometheus_client picks its value class when imported; metrics with labels create
    their values on first use, so switching here covers every labelled metric used later.
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.get_value_class()


def prepare_multiprocess_dir(directory: str) -> int:
    """Wipe the sample files a previous run left in `directory` (created if missing);
    returns how many were removed. Run before the processes that write there start:
    prometheus_client would otherwise add the old run's counters and gauges to the new."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    removed = 0
    for stale in path.glob("*.db"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def prune_dead_processes(directory: str) -> list[int]:
    """Drop the `live*` gauge files of processes that are gone (a uvicorn or pool worker
    that was replaced): otherwise in-flight requests, pool use and memory of the dead
    process would be counted for ever. Counters and histograms stay (sums over the run)."""
    dead: set[int] = set()
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid_text = path.stem.rsplit("_", 1)[-1]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            dead.add(int(pid_text))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return sorted(dead)


def render_latest() -> tuple[bytes, str]:
    """The exposition text for `/metrics` (aggregated over workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prune_dead_processes(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest(REGISTRY)
    with _live_lock:
        live = list(_live)
    if live:
        extra = CollectorRegistry(auto_describe=False)
        for collector in live:
            try:
                extra.register(collector)
            except ValueError:  # two apps in one process (tests): the first one answers
                continue
        data += generate_latest(extra)
    return data, CONTENT_TYPE_LATEST


def sample_value(name: str, labels: dict[str, str]) -> float:
    """Current value of one sample in this process (0 when never incremented)."""
    value = REGISTRY.get_sample_value(name, labels)
    return float(value or 0.0)
