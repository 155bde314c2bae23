"""The data version (newest source snapshot id) without a database query per request.

Every cached product read needs the version to build its cache key. Asking PostgreSQL each
time costs a pool checkout, a round trip and a commit, which dominated cached reads under
load. So each process remembers the version for `ttl_seconds` (1 s by default); once that
has run out, requests keep getting the remembered version while one background task reads
the new one off the event loop (stale while revalidating). Making the requests of that
moment wait for the read instead put a database round trip into the tail latency of every
second under load.

Freshness bound: an import committed by another process (a worker) is visible to cached
reads within `ttl_seconds` plus one version read. An import committed through this
process's ORM session (the embedded job runner, tests) is visible at once: inserting a
`SourceSnapshot` bumps a process-wide generation that makes every memo stale.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import structlog
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from cerflow.products import service
from cerflow.store.models import SourceSnapshot
from cerflow.store.orm_changes import drop_on_change

DEFAULT_TTL_SECONDS = 1.0
log = structlog.get_logger(__name__)

_generation = itertools.count(1)
_current_generation = 0


def _bump(*_args: Any) -> None:
    global _current_generation
    _current_generation = next(_generation)


# Flush and commit both bump (`store.orm_changes` says why).
drop_on_change((SourceSnapshot,), ("after_insert",), _bump)


def invalidate() -> None:
    """Make every process-local memo re-read the version (e.g. after a bulk Core insert)."""
    _bump()


class DataVersionMemo:
    """Per-process memo of `service.data_version`, refreshed at most once per TTL."""

    def __init__(
        self, session_factory: sessionmaker[Session], ttl_seconds: float = DEFAULT_TTL_SECONDS
    ) -> None:
        self.session_factory = session_factory
        self.ttl = ttl_seconds
        self._value: str | None = None
        self._expires = 0.0
        self._generation = -1
        self._lock: asyncio.Lock | None = None
        self._background: asyncio.Task[None] | None = None

    def _fresh(self) -> str | None:
        if self._generation == _current_generation and time.monotonic() < self._expires:
            return self._value
        return None

    def _read(self) -> str:
        with self.session_factory() as session:
            value = service.data_version(session=session)
            session.rollback()
            return value

    async def _refresh(self) -> str:
        generation = _current_generation
        value = await run_in_threadpool(self._read)
        if generation >= self._generation:  # never overwrite a newer generation's value
            self._value, self._generation = value, generation
            self._expires = time.monotonic() + self.ttl
        return value

    async def _revalidate(self) -> None:
        try:
            await self._refresh()
        except Exception as exc:  # keep serving the old version; the next request retries
            log.warning("data version refresh failed", error=type(exc).__name__)
        finally:
            self._background = None

    async def get(self) -> str:
        value = self._fresh()
        if value is not None:
            return value
        if self._value is not None and self._generation == _current_generation:
            # Expired but not invalidated: answer now, refresh once in the background.
            if self._background is None:
                self._background = asyncio.get_running_loop().create_task(self._revalidate())
            return self._value
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one blocking read at a time; the others reuse its result
            value = self._fresh()
            if value is not None:
                return value
            return await self._refresh()
