"""Failed sign-ins counted per account and per client address; over the limit -> 429.

The general rate limit (600 requests a minute per address) let one address try hundreds
of passwords a minute, and many addresses try one account without bound. Failures are
counted in fixed windows of `login_failure_window_seconds`: per account (a hash of the
normalised e-mail, so Redis holds no addresses) and per client address. While either is at
its limit, sign-in is refused before the password is checked, even with the right
password, with `Retry-After` until the window ends. A successful sign-in clears its
account's count.

Counters live in Redis when it is configured (shared by every API process); otherwise, or
while Redis is unreachable, in this process's memory: a throttle that fails closed to a
local count is better than none.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import structlog

from cerflow.config import Settings
from cerflow.errors import CerflowError
from cerflow.redis import RedisClients, redis_errors

log = structlog.get_logger(__name__)


class TooManyAttempts(CerflowError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins; try again in {retry_after} seconds "
            "(or ask an admin to reset the password)"
        )
        self.retry_after = retry_after


class Counter(Protocol):
    def get(self, key: str) -> tuple[int, float]:
        """(count, seconds until the window ends)."""
        ...

    def incr(self, key: str, window: int) -> None: ...

    def reset(self, key: str) -> None: ...


class MemoryCounter:
    """Per-process fixed windows; bounded (oldest keys dropped first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._max = max_keys
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def get(self, key: str) -> tuple[int, float]:
        with self._lock:
            item = self._data.get(key)
            now = self._clock()
            if item is None or item[1] <= now:
                return 0, 0.0
            return item[0], item[1] - now

    def incr(self, key: str, window: int) -> None:
        with self._lock:
            now = self._clock()
            count, ends = self._data.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + window
            self._data[key] = (count + 1, ends)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def reset(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisCounter:
    """Shared fixed windows in Redis; falls back to `fallback` while Redis fails."""

    def __init__(self, clients: RedisClients, fallback: MemoryCounter) -> None:
        self.clients = clients
        self.fallback = fallback

    def get(self, key: str) -> tuple[int, float]:
        try:
            pipe = self.clients.sync.pipeline(transaction=False)
            pipe.get(self.clients.key("login", key))
            pipe.pttl(self.clients.key("login", key))
            raw, ttl_ms = pipe.execute()
        except redis_errors() as exc:
            log.warning("login_throttle_redis_failed", error=type(exc).__name__)
            return self.fallback.get(key)
        local = self.fallback.get(key)
        remote = (int(raw or 0), max(0.0, int(ttl_ms or 0) / 1000))
        return max(remote, local)

    def incr(self, key: str, window: int) -> None:
        name = self.clients.key("login", key)
        try:
            pipe = self.clients.sync.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, window, nx=True)
            pipe.execute()
        except redis_errors() as exc:
            log.warning("login_throttle_redis_failed", error=type(exc).__name__)
            self.fallback.incr(key, window)

    def reset(self, key: str) -> None:
        self.fallback.reset(key)
        try:
            self.clients.sync.delete(self.clients.key("login", key))
        except redis_errors() as exc:
            log.warning("login_throttle_redis_failed", error=type(exc).__name__)


def _account(email: str) -> str:
    return "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(
        self, counter: Counter, *, per_account: int, per_ip: int, window_seconds: int
    ) -> None:
        self.counter = counter
        self.per_account = per_account
        self.per_ip = per_ip
        self.window = window_seconds

    def check(self, *, email: str, ip: str) -> None:
        """Raise `TooManyAttempts` if the account or the address is at its limit."""
        wait = 0.0
        for key, limit in ((_account(email), self.per_account), (f"ip:{ip}", self.per_ip)):
            count, left = self.counter.get(key)
            if count >= limit:
                wait = max(wait, left)
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, *, email: str, ip: str) -> None:
        self.counter.incr(_account(email), self.window)
        self.counter.incr(f"ip:{ip}", self.window)

    def succeeded(self, *, email: str) -> None:
        self.counter.reset(_account(email))


def make_throttle(settings: Settings, redis: RedisClients | None) -> LoginThrottle:
    memory = MemoryCounter()
    counter: Counter = memory if redis is None else RedisCounter(redis, memory)
    return LoginThrottle(
        counter,
        per_account=settings.login_max_failures_per_account,
        per_ip=settings.login_max_failures_per_ip,
        window_seconds=settings.login_failure_window_seconds,
    )
