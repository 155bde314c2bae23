"""Prometheus metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set.

With several uvicorn workers each process writes its samples to files in that
directory and `/metrics` aggregates them, so a scrape sees the whole server, not
whichever worker answered.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
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


def render_latest() -> tuple[bytes, str]:
    """The exposition text for `/metrics` (aggregated over workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def sample_value(name: str, labels: dict[str, str]) -> float:
    """Current value of one sample in this process (0 when never incremented)."""
    value = REGISTRY.get_sample_value(name, labels)
    return float(value or 0.0)
