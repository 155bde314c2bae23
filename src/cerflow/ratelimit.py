"""Sliding-window rate limits per principal and per client address.

Each key is a Redis sorted set of request timestamps; one Lua script trims the window,
counts and (only if every key is under its limit) records the request, atomically and in
one round trip. A refused request is not recorded, so a client hammering at a closed door
is let in again as soon as its oldest counted request leaves the window.

When Redis is unreachable the limiter fails open (the request passes, a warning is logged
once per outage, a counter ticks): losing limits for a while is better than losing the API.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.commands.core import AsyncScript

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


class RedisRateLimiter:
    def __init__(self, clients: RedisClients, window_seconds: int) -> None:
        self.clients = clients
        self.window_ms = window_seconds * 1000
        self._script: AsyncScript = clients.aio.register_script(_SLIDING_WINDOW)

    async def hit(self, limits: list[Limit]) -> Decision:
        if not limits:
            return Decision(True)
        if not self.clients.limiter_gate.available():
            RATE_LIMIT_FAIL_OPEN.inc()
            return Decision(True)
        keys = [self.clients.key("rl", lim.scope, lim.identity) for lim in limits]
        now_ms = int(time.time() * 1000)
        args: list[str | int] = [now_ms, self.window_ms, f"{now_ms}-{uuid.uuid4().hex[:8]}"]
        args += [lim.limit for lim in limits]
        try:
            wait_ms = int(await self._script(keys=keys, args=args))
        except REDIS_ERRORS as exc:
            self.clients.limiter_gate.failed(exc, operation="rate_limit")
            RATE_LIMIT_FAIL_OPEN.inc()
            return Decision(True)
        self.clients.limiter_gate.succeeded()
        if wait_ms <= 0:
            return Decision(True)
        scope = _fullest_scope(limits)
        RATE_LIMITED.labels(scope=scope).inc()
        return Decision(False, max(1, math.ceil(wait_ms / 1000)), scope)


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
