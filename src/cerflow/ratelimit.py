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

Far from a limit, a request does not wait for Redis at all. Each answer from Redis tells
this process how full each key's window is; while a key is known (answered within
`KNOWN_FOR_SECONDS`) to be below its limit minus a headroom of 10 %, the request is let in
at once and its timestamp is recorded in Redis by a background batch at most
`RECORD_DELAY_SECONDS` later (one script call per key for all its requests). Near the limit,
or without a recent answer, the request waits for the exact atomic check as before, and the
check goes out after the records still pending (one pipeline at a time, in order), so it
counts them. What this gives up: processes learn of each other's requests only through
those answers, so several processes together may let in a little more than the limit
before the next answer: each lets in at most `limit // 40` (at least 1) requests per key
beyond what Redis has counted, so with P processes at most P x 2.5 % over the limit within
a window. Within one process the count is exact. Why: waiting for Redis on every request
was most of a cached product read's cost (benchmarks/api_load.py: about 100-150 us of
server CPU per request, and a wait on another process that the loaded machine schedules
late), while refusing the 601st request rather than the 615th is not a security property.
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

from cerflow.observability.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMITED
from cerflow.redis import RedisClients, redis_errors

# KEYS: one sorted set per scope; ARGV: now_ms, window_ms, member, limit_1..limit_n.
# Returns {0, count of each key after this request} if allowed, else {milliseconds until
# the fullest key frees a slot}.
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
if wait > 0 then return {wait} end
local counts = {0}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  counts[i + 1] = redis.call('ZCARD', key)
end
return counts
"""

# KEYS: one sorted set; ARGV: now_ms, window_ms, then (timestamp, member) pairs of requests
# already let in by this process. Returns the key's count in the window afterwards.
_RECORD = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""

KNOWN_FOR_SECONDS = 1.0
RECORD_DELAY_SECONDS = 0.02


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

# (keys, args, future of a check or None for a record of requests already let in)
_Pending = tuple[list[str], list[str | int], "asyncio.Future[int] | None"]


class RedisRateLimiter:
    def __init__(self, clients: RedisClients, window_seconds: int) -> None:
        self.clients = clients
        self.window_ms = window_seconds * 1000
        self._script = clients.aio.register_script(_SLIDING_WINDOW)
        self._record_script = clients.aio.register_script(_RECORD)
        self._pending: list[_Pending] = []
        self._soon = False
        self._later: asyncio.TimerHandle | None = None
        # key -> (count in the window at the last answer, when); requests let in here and
        # not yet counted by Redis; their (timestamp, member) pairs waiting to be sent.
        self._known: dict[str, tuple[int, float]] = {}
        self._unrecorded: dict[str, int] = {}
        self._outbox: dict[str, list[str | int]] = {}
        self._order: asyncio.Lock | None = None

    def _let_in_locally(self, keys: list[str], limits: list[Limit]) -> bool:
        now = time.monotonic()
        for key, lim in zip(keys, limits, strict=True):
            known = self._known.get(key)
            if known is None or now - known[1] > KNOWN_FOR_SECONDS:
                return False
            unrecorded = self._unrecorded.get(key, 0)
            if unrecorded >= max(1, lim.limit // 40):
                return False
            if known[0] + unrecorded + 1 > lim.limit - max(1, lim.limit // 10):
                return False
        return True

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
        member = f"{now_ms}-{_TAG}{next(_SEQ)}"
        loop = asyncio.get_running_loop()
        if self._let_in_locally(keys, limits):
            for key in keys:
                self._outbox.setdefault(key, []).extend((now_ms, member))
                self._unrecorded[key] = self._unrecorded.get(key, 0) + 1
            if self._later is None and not self._soon:
                self._later = loop.call_later(RECORD_DELAY_SECONDS, self._flush)
            return Decision(True)
        args: list[str | int] = [now_ms, self.window_ms, member]
        args += [lim.limit for lim in limits]
        future: asyncio.Future[int] = loop.create_future()
        if not self._soon:
            # After the callbacks already due in this turn: their checks join the batch.
            self._soon = True
            loop.call_soon(self._flush)
        self._pending.append((keys, args, future))
        try:
            wait_ms = await future
        except redis_errors() as exc:
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
        if self._later is not None:
            self._later.cancel()
            self._later = None
        self._soon = False
        now_ms = int(time.time() * 1000)
        # Records first: a check in the same pipeline counts the requests let in before it.
        batch: list[_Pending] = [
            ([key], [now_ms, self.window_ms, *pairs], None) for key, pairs in self._outbox.items()
        ]
        self._outbox = {}
        batch += self._pending
        self._pending = []
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        # redis-py is loaded by now (the clients exist); not imported with this module,
        # which the embedded default also uses.
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import NoScriptError

        if self._order is None:
            self._order = asyncio.Lock()
        async with self._order:  # pipelines reach Redis in the order they were formed
            try:
                results = await self._execute(batch)
                if any(isinstance(r, NoScriptError) for r in results):
                    # Redis restarted (or was flushed) since the scripts were loaded; a
                    # record sent twice adds the same members again: no double count.
                    self._script.sha = await self.clients.aio.script_load(_SLIDING_WINDOW)
                    self._record_script.sha = await self.clients.aio.script_load(_RECORD)
                    results = await self._execute(batch)
            except Exception as exc:  # one failure for the whole round trip
                self._forget(batch)
                if any(future is None for _k, _a, future in batch) and isinstance(
                    exc, redis_errors()
                ):
                    # No request waits on a record: the gate hears of the failure here.
                    self.clients.limiter_gate.failed(exc, operation="rate_limit")
                _fail(batch, exc)
                return
            except asyncio.CancelledError:  # shutdown: the waiting requests fail open
                self._forget(batch)
                _fail(batch, RedisConnectionError("rate-limit batch cancelled"))
                raise
        answered = time.monotonic()
        if len(self._known) > 100_000:  # forget idle identities
            self._known.clear()
        for (keys, args, future), result in zip(batch, results, strict=True):
            if future is None:  # a record: Redis now counts these requests
                key = keys[0]
                left = self._unrecorded.get(key, 0) - (len(args) - 2) // 2
                if left > 0:
                    self._unrecorded[key] = left
                else:
                    self._unrecorded.pop(key, None)
                if isinstance(result, int):
                    self._known[key] = (result, answered)
                else:
                    self._known.pop(key, None)
                continue
            if isinstance(result, list) and len(result) == len(keys) + 1 and result[0] == 0:
                for key, count in zip(keys, result[1:], strict=True):
                    self._known[key] = (int(count), answered)
            if future.done():  # the caller went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            elif isinstance(result, list):
                future.set_result(int(result[0]))
            else:
                future.set_result(int(result))

    def _forget(self, batch: list[_Pending]) -> None:
        """After a failed round trip: no count is trusted, records are dropped (fail open)."""
        for keys, _args, future in batch:
            for key in keys:
                self._known.pop(key, None)
            if future is None:
                self._unrecorded.pop(keys[0], None)

    async def _execute(self, batch: list[_Pending]) -> list[Any]:
        async with self.clients.aio.pipeline(transaction=False) as pipe:
            for keys, args, future in batch:
                script = self._script if future is not None else self._record_script
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))


def _fail(batch: list[_Pending], exc: Exception) -> None:
    for _keys, _args, future in batch:
        if future is not None and not future.done():
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
