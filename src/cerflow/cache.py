"""Cache of source fetches and analysis results, keyed by normalized query + data version.

The data snapshot version is part of the key, so a new import makes old entries
unreachable (they expire by TTL) instead of needing explicit invalidation. Redis in
production, a bounded in-process dict in the embedded default. A Redis outage is a cache
miss, never an error (see `cerflow.redis.RedisGate`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from cerflow.observability.metrics import CACHE_REQUESTS
from cerflow.redis import RedisClients, redis_errors

T = TypeVar("T")


def normalize_query(query: str | Mapping[str, Any]) -> str:
    """Same question, same key: case, surrounding space and argument order do not matter."""
    if isinstance(query, str):
        canonical = " ".join(query.split()).casefold()
    else:
        canonical = json.dumps(
            {
                str(k).casefold(): (" ".join(v.split()).casefold() if isinstance(v, str) else v)
                for k, v in query.items()
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Cache(Protocol):
    def get(self, namespace: str, query: str | Mapping[str, Any], version: str) -> bytes | None: ...

    async def aget(
        self, namespace: str, query: str | Mapping[str, Any], version: str
    ) -> bytes | None:
        """`get` for async endpoints: no thread hop on a hit."""
        ...

    def set(
        self,
        namespace: str,
        query: str | Mapping[str, Any],
        version: str,
        value: bytes,
        ttl: int | None = None,
    ) -> None: ...


def count_request(namespace: str, result: str) -> None:
    # The labelled child looked up once per (namespace, result): `labels()` costs more than
    # the increment, and cached reads count one hit each.
    child = _COUNTERS.get((namespace, result))
    if child is None:
        child = _COUNTERS[(namespace, result)] = CACHE_REQUESTS.labels(
            namespace=namespace, result=result
        )
    child.inc()


_COUNTERS: dict[tuple[str, str], Any] = {}


class RedisCache:
    def __init__(self, clients: RedisClients, ttl_seconds: int) -> None:
        self.clients = clients
        self.ttl = ttl_seconds

    def _key(self, namespace: str, query: str | Mapping[str, Any], version: str) -> str:
        return self.clients.key("cache", namespace, f"v{version}", normalize_query(query))

    def get(self, namespace: str, query: str | Mapping[str, Any], version: str) -> bytes | None:
        if not self.clients.gate.available():
            count_request(namespace, "bypass")
            return None
        try:
            value = self.clients.sync.get(self._key(namespace, query, version))
        except redis_errors() as exc:
            self.clients.gate.failed(exc, operation="cache_get")
            count_request(namespace, "bypass")
            return None
        self.clients.gate.succeeded()
        count_request(namespace, "hit" if value is not None else "miss")
        return value if isinstance(value, bytes) else None

    async def aget(
        self, namespace: str, query: str | Mapping[str, Any], version: str
    ) -> bytes | None:
        if not self.clients.gate.available():
            count_request(namespace, "bypass")
            return None
        try:
            value = await self.clients.aio.get(self._key(namespace, query, version))
        except redis_errors() as exc:
            self.clients.gate.failed(exc, operation="cache_get")
            count_request(namespace, "bypass")
            return None
        self.clients.gate.succeeded()
        count_request(namespace, "hit" if value is not None else "miss")
        return value if isinstance(value, bytes) else None

    def set(
        self,
        namespace: str,
        query: str | Mapping[str, Any],
        version: str,
        value: bytes,
        ttl: int | None = None,
    ) -> None:
        if not self.clients.gate.available():
            return
        try:
            self.clients.sync.set(self._key(namespace, query, version), value, ex=ttl or self.ttl)
        except redis_errors() as exc:
            self.clients.gate.failed(exc, operation="cache_set")
            return
        self.clients.gate.succeeded()


class MemoryCache:
    """Embedded default: per-process LRU with TTL."""

    def __init__(self, ttl_seconds: int, max_items: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_items = max_items
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, query: str | Mapping[str, Any], version: str) -> bytes | None:
        key = f"{namespace}:v{version}:{normalize_query(query)}"
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[0] > time.monotonic():
                self._data.move_to_end(key)
                count_request(namespace, "hit")
                return item[1]
            self._data.pop(key, None)
        count_request(namespace, "miss")
        return None

    async def aget(
        self, namespace: str, query: str | Mapping[str, Any], version: str
    ) -> bytes | None:
        return self.get(namespace, query, version)

    def set(
        self,
        namespace: str,
        query: str | Mapping[str, Any],
        version: str,
        value: bytes,
        ttl: int | None = None,
    ) -> None:
        key = f"{namespace}:v{version}:{normalize_query(query)}"
        with self._lock:
            self._data[key] = (time.monotonic() + (ttl or self.ttl), value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)


def cached_json(
    cache: Cache,
    namespace: str,
    query: str | Mapping[str, Any],
    version: str,
    compute: Callable[[], T],
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
) -> tuple[T, bool]:
    """Return (value, was_cached); computes and stores on a miss."""
    raw = cache.get(namespace, query, version)
    if raw is not None:
        return decode(raw), True
    value = compute()
    cache.set(namespace, query, version, encode(value))
    return value, False
