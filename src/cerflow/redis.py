"""Redis clients behind a breaker: when Redis is down the API keeps serving without it.

Every caller goes through `RedisGate`. A failed call marks Redis down for
`redis_retry_seconds`; meanwhile callers get `None` at once instead of waiting on a
socket timeout per request, and the first call after the pause probes Redis again, so
service recovers by itself when Redis returns. One warning is logged per outage.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
import redis.asyncio as aredis
import structlog

from cerflow.config import Settings

log = structlog.get_logger(__name__)

REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class RedisGate:
    """Shared up/down state for the sync and async clients of one process."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        return not self._down or time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, *, operation: str) -> None:
        with self._lock:
            first = not self._down
            self._down = True
            self._down_until = time.monotonic() + self.retry_seconds
        if first:
            # The message names the operation and the error class, never the URL
            # (it may carry a password).
            log.warning(
                "redis_unavailable",
                operation=operation,
                error=type(exc).__name__,
                retry_seconds=self.retry_seconds,
            )

    def succeeded(self) -> None:
        if self._down:
            with self._lock:
                was_down = self._down
                self._down = False
            if was_down:
                log.warning("redis_recovered")

    @property
    def is_down(self) -> bool:
        return self._down


class RedisClients:
    """Sync client for threadpool endpoints, async client for middleware, one gate."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("RedisClients needs CERFLOW_REDIS_URL")
        opts: dict[str, Any] = {
            "socket_timeout": settings.redis_socket_timeout,
            "socket_connect_timeout": settings.redis_socket_timeout,
            "decode_responses": False,
        }
        self.sync: redis.Redis = redis.Redis.from_url(settings.redis_url, **opts)
        self.aio: aredis.Redis = aredis.Redis.from_url(settings.redis_url, **opts)
        self.gate = RedisGate(settings.redis_retry_seconds)
        self.prefix = settings.redis_key_prefix

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        """Readiness probe: always asks Redis, whatever the gate says."""
        try:
            ok = bool(self.sync.ping())
        except REDIS_ERRORS as exc:
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
