"""Sliding-window rate limits per principal and per client address.

Each key is a Redis sorted set of request timestamps; one Lua script trims the window,
counts and (only if every key is under its limit) records the request, atomically and in
one round trip. A refused request is not recorded, so a client hammering at a closed door
is let in again as soon as its oldest counted request leaves the window.

When Redis is unreachable the limiter fails open (the request passes, a warning is logged
once per outage, a counter ticks): losing limits for a while is better than losing the API.

Round trips are shared: the checks of the requests that arrive in one turn of the event
loop go to Redis as one pipeline (each still its own atomic script call, in arrival
order). A single script call cost ~0.2 ms of client CPU and a socket write per request,
a large share of a cached read; in a pipeline the per-request part is packing and parsing.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from cerflow.observability.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMITED
from cerflow.redis import REDIS_ERRORS, RedisClients

# KEYS: one sorted set per scope; ARGV: now_ms, window_ms, member, limit_1..limit_n.
# Returns 0 if allowed, else the milliseconds until the fullest key frees a slot.
_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit = tonumber(ARGV[3 + i])
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    scope: str  # "user" | "ip"
    identity: str
    limit: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds, >= 1 when refused
    scope: str | None = None


_TAG = os.urandom(6).hex() + "-"
_SEQ = itertools.count()

_Pending = tuple[list[str], list[str | int], "asyncio.Future[int]"]


class RedisRateLimiter:
    def __init__(self, clients: RedisClients, window_seconds: int) -> None:
        self.clients = clients
        self.window_ms = window_seconds * 1000
        self._script = clients.aio.register_script(_SLIDING_WINDOW)
        self._pending: list[_Pending] = []

    async def hit(self, limits: list[Limit]) -> Decision:
        if not limits:
            return Decision(True)
        gate = self.clients.limiter_gate
        if not gate.available():
            RATE_LIMIT_FAIL_OPEN.inc()
            return Decision(True)
        keys = [self.clients.key("rl", lim.scope, lim.identity) for lim in limits]
        now_ms = int(time.time() * 1000)
        # Unique within the window across processes: a random per-process tag and a counter.
        args: list[str | int] = [now_ms, self.window_ms, f"{now_ms}-{_TAG}{next(_SEQ)}"]
        args += [lim.limit for lim in limits]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._pending:
            # After the callbacks already due in this turn: their checks join the batch.
            loop.call_soon(self._flush)
        self._pending.append((keys, args, future))
        try:
            wait_ms = await future
        except REDIS_ERRORS as exc:
            gate.failed(exc, operation="rate_limit")
            RATE_LIMIT_FAIL_OPEN.inc()
            return Decision(True)
        gate.succeeded()
        if wait_ms <= 0:
            return Decision(True)
        scope = _fullest_scope(limits)
        RATE_LIMITED.labels(scope=scope).inc()
        return Decision(False, max(1, math.ceil(wait_ms / 1000)), scope)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            results = await self._execute(batch)
            if any(isinstance(r, NoScriptError) for r in results):
                # Redis restarted (or was flushed) since the script was loaded.
                self._script.sha = await self.clients.aio.script_load(_SLIDING_WINDOW)
                results = await self._execute(batch)
        except Exception as exc:  # one failure for the whole round trip
            _fail(batch, exc)
            return
        except asyncio.CancelledError:  # shutdown: the waiting requests fail open
            _fail(batch, RedisConnectionError("rate-limit batch cancelled"))
            raise
        for (_keys, _args, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(int(result))

    async def _execute(self, batch: list[_Pending]) -> list[Any]:
        async with self.clients.aio.pipeline(transaction=False) as pipe:
            for keys, args, _future in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))


def _fail(batch: list[_Pending], exc: Exception) -> None:
    for _keys, _args, future in batch:
        if not future.done():
            future.set_exception(exc)


# Batches in flight (a task needs a strong reference until it finishes).
_background: set[asyncio.Future[None]] = set()


def _fullest_scope(limits: list[Limit]) -> str:
    return min(limits, key=lambda lim: lim.limit).scope


class MemoryRateLimiter:
    """Embedded default: one process, so an in-memory window is exact."""

    def __init__(self, window_seconds: int) -> None:
        self.window = float(window_seconds)
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    async def hit(self, limits: list[Limit]) -> Decision:
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            refused: str | None = None
            for lim in limits:
                q = self._hits.setdefault((lim.scope, lim.identity), deque())
                while q and q[0] <= now - self.window:
                    q.popleft()
                if len(q) >= lim.limit:
                    w = q[0] + self.window - now
                    if w > wait:
                        wait, refused = w, lim.scope
            if refused is not None:
                RATE_LIMITED.labels(scope=refused).inc()
                return Decision(False, max(1, math.ceil(wait)), refused)
            for lim in limits:
                self._hits[(lim.scope, lim.identity)].append(now)
            if len(self._hits) > 100_000:  # forget idle identities
                self._hits = {k: q for k, q in self._hits.items() if q}
            return Decision(True)


class RateLimiter(Protocol):
    async def hit(self, limits: list[Limit]) -> Decision: ...
