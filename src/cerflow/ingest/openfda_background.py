"""openFDA whole-database background counts, fetched and cached for the report layer.

    provider = counts_provider(settings)             # (drug, since, until) -> counts
    facts = compute_facts(engine, drug="atorvastatin", background="openfda",
                          background_counts=provider)

The report layer reads no source (import contracts), so the CLI, the report jobs and the
demo hand it this provider. Counts are cached through `cerflow.cache`: Redis when
`redis_url` is set (shared by every worker), otherwise one in-process cache per process,
for `openfda_background_cache_seconds`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from cerflow.cache import Cache, MemoryCache, RedisCache
from cerflow.config import Settings
from cerflow.redis import make_redis
from cerflow.sources.openfda import OpenFDAClient
from cerflow.sources.openfda_background import (
    DrugBackgroundCounts,
    cached_drug_background,
    fetch_drug_background,
)

__all__ = ["background_cache", "counts_provider", "fetch_background"]

# One cache per process and configuration: a worker runs many report jobs, and each new
# Redis client would open a connection pool of its own.
_CACHES: dict[tuple[str, str, int], Cache] = {}
_LOCK = threading.Lock()


def background_cache(settings: Settings) -> Cache:
    """Redis when configured, else this process's in-memory cache."""
    ttl = settings.openfda_background_cache_seconds
    key = (settings.redis_url or "", settings.redis_key_prefix, ttl)
    with _LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            redis = make_redis(settings)
            cache = (
                RedisCache(redis, ttl)
                if redis is not None
                else MemoryCache(ttl, settings.cache_max_items)
            )
            _CACHES[key] = cache
        return cache


def fetch_background(
    settings: Settings,
    *,
    drug: str,
    since: dt.date,
    until: dt.date,
    cache: Cache | None = None,
    client_factory: Callable[[], OpenFDAClient] | None = None,
) -> DrugBackgroundCounts:
    """The counts for one drug and window: from the cache, else from openFDA (and cached)."""
    if since > until:
        raise ValueError(f"--since {since} is after --until {until}")

    def fetch() -> DrugBackgroundCounts:
        make = client_factory or (lambda: OpenFDAClient.from_settings(settings))
        with make() as client:
            return fetch_drug_background(client, drug=drug, since=since, until=until)

    return cached_drug_background(
        cache if cache is not None else background_cache(settings),
        fetch,
        drug=drug,
        since=since,
        until=until,
        base_url=settings.openfda_base_url,
        ttl=settings.openfda_background_cache_seconds,
    )


def counts_provider(
    settings: Settings,
    *,
    cache: Cache | None = None,
    client_factory: Callable[[], OpenFDAClient] | None = None,
) -> Callable[[str, dt.date, dt.date], DrugBackgroundCounts]:
    """A `cerflow.report.background.CountsProvider` over `fetch_background`."""
    chosen = cache if cache is not None else background_cache(settings)

    def provide(drug: str, since: dt.date, until: dt.date) -> DrugBackgroundCounts:
        return fetch_background(
            settings,
            drug=drug,
            since=since,
            until=until,
            cache=chosen,
            client_factory=client_factory,
        )

    return provide
