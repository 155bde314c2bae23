"""Where a product detail body is looked up before anything computes it.

Shared by the FastAPI endpoint (`products.endpoints.detail`) and the ASGI fast path
(`products.cached_read`), so both find the same bodies under the same keys and count the
same cache metrics. Per-app objects live on the app's `state` (one per app, hence one per
session factory in tests), created on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import State

from cerflow.api.deps import AppState
from cerflow.cache import count_request as count_cache
from cerflow.products import service
from cerflow.products.version import DataVersionMemo

Key = tuple[str, str, str]  # (data version, kind, normalized ref)


def etag_of(body: bytes) -> str:
    """A strong validator of the body: same bytes, same tag, whichever process served it."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Body:
    raw: bytes
    etag: str


class LocalDetails:
    """Per-process copy of recent detail bodies in front of Redis (saves one round trip).

    Keyed by data version, so an entry is never stale beyond the version memo's bound;
    bounded in size and age. Kept while Redis is merely slow (timeouts under load: the
    copy is what keeps cached reads off PostgreSQL then) and dropped once Redis is seen
    unreachable, so after an outage the shared cache is again the one source of hits.
    """

    def __init__(self, max_items: int = 256, ttl_seconds: float = 30.0) -> None:
        self.max_items = max_items
        self.ttl = ttl_seconds
        self._data: OrderedDict[Key, tuple[float, Body]] = OrderedDict()

    def get(self, key: Key) -> Body | None:
        item = self._data.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    def put(self, key: Key, value: Body) -> None:
        self._data[key] = (time.monotonic() + self.ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_items:
            self._data.popitem(last=False)


class SingleFlight:
    """One computation per key at a time; concurrent callers share its result.

    When the cache is cold (a new data version, Redis bypassed) hundreds of requests for
    the same product arrive together; without this each ran the full set of PostgreSQL
    queries in its own thread. The computation is a task of its own, so a caller that
    goes away (client disconnect) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._running: dict[Key, asyncio.Future[bytes | None]] = {}

    async def run(self, key: Key, compute: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda _t: self._running.pop(key, None))
        return await asyncio.shield(task)


def version_memo(holder: State, state: AppState) -> DataVersionMemo:
    """One memo per app (and so per session factory), created on first use."""
    memo: DataVersionMemo | None = getattr(holder, "product_data_version", None)
    if memo is None or memo.session_factory is not state.session_factory:
        memo = DataVersionMemo(state.session_factory)
        holder.product_data_version = memo
    return memo


def local_cache(holder: State, state: AppState) -> LocalDetails | None:
    """Only in front of Redis (the in-memory cache needs no copy) and only while reachable."""
    if state.redis is None:
        return None
    local: LocalDetails | None = getattr(holder, "product_detail_local", None)
    if local is None or state.redis.unreachable:
        local = LocalDetails()
        holder.product_detail_local = local
    return local


def single_flight(holder: State) -> SingleFlight:
    flight: SingleFlight | None = getattr(holder, "product_detail_flight", None)
    if flight is None:
        flight = SingleFlight()
        holder.product_detail_flight = flight
    return flight


@dataclass(frozen=True, slots=True)
class Lookup:
    key: Key
    query: dict[str, str]
    body: Body | None  # None: not cached, compute it


async def lookup(holder: State, state: AppState, ref: str) -> Lookup:
    """The cached body of `ref` at the current data version: per-process copy, then cache."""
    kind, key = service.resolve(ref)
    version = await version_memo(holder, state).get()
    query = {"kind": kind, "ref": key}
    local = local_cache(holder, state)
    l1_key = (version, kind, key)
    body = local.get(l1_key) if local is not None else None
    if body is not None:
        count_cache("product_detail", "hit")
        return Lookup(l1_key, query, body)
    raw = await state.cache.aget("product_detail", query, version)
    if raw is None:
        return Lookup(l1_key, query, None)
    body = Body(raw, etag_of(raw))
    if local is not None:
        local.put(l1_key, body)
    return Lookup(l1_key, query, body)


def remember(holder: State, state: AppState, key: Key, raw: bytes) -> Body:
    """A freshly computed body, kept in the per-process copy while Redis is reachable."""
    body = Body(raw, etag_of(raw))
    local = local_cache(holder, state)
    if local is not None and state.redis is not None and not state.redis.unreachable:
        local.put(key, body)
    return body


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against the body's tag (`*` matches)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False
