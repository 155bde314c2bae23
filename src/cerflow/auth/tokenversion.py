"""Is an access token still current? Its `ver` claim against the user's token version.

Access tokens are self-contained, so without this a deactivated or demoted user kept their
rights until the token expired (15 minutes). The check costs one indexed read per user per
`TTL_SECONDS` per process: answers are remembered briefly, like verified API keys
(`auth.keycache`). A change through this process's ORM (admin API, CLI) empties the memo
at flush and again at commit (`store.orm_changes.drop_on_change`), so it takes effect on
the next request here; other processes honour it within `TTL_SECONDS`.

Under load every request of a user arrives while the look-up runs: concurrent misses of
one user share one look-up (per event loop and memo generation, so a request after a
change never joins a look-up that started before it). Before, each request that found the
memo expired started its own look-up: with one user at 500 requests/s that queued hundreds
of threads on a 10-connection pool every 2 s (benchmarks/api_load.py: p95 over 1 s).
Not done: renewing an answer in the background shortly before it expires (it would hide
the look-up from requests altogether) - the look-up then runs beside the request's own
database work, which a session bound to one connection (the tests' rolled-back
transaction) cannot take. The revocation bound is unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow import unit_of_work
from cerflow.auth.models import User
from cerflow.auth.service import AuthError, Principal
from cerflow.store.orm_changes import drop_on_change

TTL_SECONDS = 2.0
MAX_USERS = 8192

_lock = threading.Lock()
# user id -> (expires at, token version or None when the user is gone or inactive).
_memo: OrderedDict[int, tuple[float, int | None]] = OrderedDict()
_generation = 0
# (user id, generation) -> the look-up in flight, shared by the requests that need it.
_inflight: dict[tuple[int, int], asyncio.Future[int | None]] = {}
_clock = time.monotonic  # a module attribute, so tests can move time for this memo only


def invalidate(*_args: Any) -> None:
    global _generation
    with _lock:
        _generation += 1
        _memo.clear()
    # Look-ups of older generations finish for the requests already waiting on them;
    # new requests start their own.


drop_on_change((User,), ("after_update", "after_delete"), invalidate)


def _lookup(factory: sessionmaker[Session], user_id: int) -> int | None:
    """The user's token version, or None when the user is gone or inactive."""
    with unit_of_work.unit_of_work(factory) as session:
        row = session.execute(
            select(User.token_version, User.is_active).where(User.id == user_id)
        ).first()
    if row is None or not row.is_active:
        return None
    return int(row.token_version or 0)


def _get(user_id: int) -> tuple[bool, int | None]:
    with _lock:
        item = _memo.get(user_id)
        if item is None or item[0] <= _clock():
            return False, None
        return True, item[1]


def _put(user_id: int, version: int | None, seen_generation: int) -> None:
    with _lock:
        if seen_generation != _generation:  # a change raced with the look-up: keep nothing
            return
        _memo[user_id] = (_clock() + TTL_SECONDS, version)
        _memo.move_to_end(user_id)
        while len(_memo) > MAX_USERS:
            _memo.popitem(last=False)


def _shared_lookup(factory: sessionmaker[Session], user_id: int) -> asyncio.Future[int | None]:
    """The look-up of `user_id` in flight in this loop and generation, or a new one."""
    loop = asyncio.get_running_loop()
    key = (user_id, _generation)
    running = _inflight.get(key)
    if running is not None and running.get_loop() is loop:
        return running

    async def lookup(seen: int) -> int | None:
        version = await run_in_threadpool(_lookup, factory, user_id)
        _put(user_id, version, seen)
        return version

    task = loop.create_task(lookup(_generation))
    _inflight[key] = task

    def done(finished: asyncio.Future[int | None]) -> None:
        if _inflight.get(key) is finished:
            del _inflight[key]
        if not finished.cancelled():
            finished.exception()  # retrieved: all waiters may have gone (disconnects)

    task.add_done_callback(done)
    return task


async def ensure_current(factory: sessionmaker[Session], principal: Principal) -> None:
    """Raise `AuthError` if the user's token version moved on since the token was issued
    (role change, deactivation, password change) or the user is gone or inactive."""
    if principal.kind != "user" or principal.token_version is None:
        return
    hit, version = _get(principal.user_id)
    if not hit:
        version = await asyncio.shield(_shared_lookup(factory, principal.user_id))
    if version is None or version != principal.token_version:
        raise AuthError("access token is no longer valid (account changed); please sign in again")
