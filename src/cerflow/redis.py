"""Redis clients behind a breaker: when Redis is down the API keeps serving without it.

Every caller goes through `RedisGate`. A failed call marks Redis down for
`redis_retry_seconds`; meanwhile callers get `None` at once instead of waiting on a
socket timeout per request, and the first call after the pause probes Redis again, so
service recovers by itself when Redis returns. One warning is logged per outage.

The cache and the rate limiter have a gate each: under load a rate-limit call that waits
past the socket timeout (often event-loop lag, not Redis) must not also switch the cache
off, or every cached read falls through to PostgreSQL exactly when the server is busiest.
A gate also tells a slow Redis (timeouts) from an unreachable one (refused, reset): callers
may keep serving their per-process copies while Redis is merely slow.

redis-py is imported when a client is made (or an error has to be classified), not with
this module: the embedded default (no CERFLOW_REDIS_URL) never loads it, which keeps
~40 ms out of the API's start (benchmarks/startup.py).
"""

from __future__ import annotations

import threading
import time
from functools import cache
from typing import TYPE_CHECKING, Any

import structlog

from cerflow.config import Settings

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

log = structlog.get_logger(__name__)


@cache
def redis_errors() -> tuple[type[BaseException], ...]:
    """What a failed Redis call raises: `except redis_errors() as exc:`.

    A function, not a constant, so that redis-py loads only when an exception is being
    matched (the clause's expression is evaluated then), never at import."""
    import redis

    return (redis.RedisError, OSError)


class RedisGate:
    """Up/down state of one use of Redis (cache or rate limiter) in one process."""

    def __init__(self, retry_seconds: float, name: str = "cache") -> None:
        self.retry_seconds = retry_seconds
        self.name = name
        self._down_until = 0.0
        self._down = False
        self._unreachable = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        return not self._down or time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, *, operation: str) -> None:
        import redis

        with self._lock:
            first = not self._down
            self._down = True
            self._unreachable = not isinstance(exc, redis.TimeoutError | TimeoutError)
            self._down_until = time.monotonic() + self.retry_seconds
        if first:
            # The message names the operation and the error class, never the URL
            # (it may carry a password).
            log.warning(
                "redis_unavailable",
                gate=self.name,
                operation=operation,
                error=type(exc).__name__,
                retry_seconds=self.retry_seconds,
            )

    def succeeded(self) -> None:
        if self._down:
            with self._lock:
                was_down = self._down
                self._down = False
                self._unreachable = False
            if was_down:
                log.warning("redis_recovered", gate=self.name)

    @property
    def is_down(self) -> bool:
        return self._down

    @property
    def is_unreachable(self) -> bool:
        """Down because a call failed outright (not merely timed out)."""
        return self._down and self._unreachable


class RedisClients:
    """Sync client for threadpool endpoints, async client for the event loop; two gates.

    `gate` covers the cache (and the readiness ping), `limiter_gate` the rate limiter.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("RedisClients needs CERFLOW_REDIS_URL")
        import redis
        import redis.asyncio as aredis

        opts: dict[str, Any] = {
            "socket_timeout": settings.redis_socket_timeout,
            "socket_connect_timeout": settings.redis_socket_timeout,
            "decode_responses": False,
        }
        self.sync: redis.Redis = redis.Redis.from_url(settings.redis_url, **opts)
        self.aio: aredis.Redis = aredis.Redis.from_url(settings.redis_url, **opts)
        self.gate = RedisGate(settings.redis_retry_seconds, "cache")
        self.limiter_gate = RedisGate(settings.redis_retry_seconds, "rate_limit")
        self.prefix = settings.redis_key_prefix

    @property
    def unreachable(self) -> bool:
        """A recent call, by the cache or the rate limiter, failed outright (not a timeout)."""
        return self.gate.is_unreachable or self.limiter_gate.is_unreachable

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        """Readiness probe: always asks Redis, whatever the gate says."""
        try:
            ok = bool(self.sync.ping())
        except redis_errors() as exc:
            self.gate.failed(exc, operation="ping")
            return False
        self.gate.succeeded()
        return ok

    def close(self) -> None:
        self.sync.close()

    async def aclose(self) -> None:
        await self.aio.aclose()
        self.sync.close()


def make_redis(settings: Settings) -> RedisClients | None:
    """`None` in the embedded default (no CERFLOW_REDIS_URL): in-memory cache and limits."""
    return RedisClients(settings) if settings.redis_url else None
