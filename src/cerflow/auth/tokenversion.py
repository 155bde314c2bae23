"""Is an access token still current? Its `ver` claim against the user's token version.

Access tokens are self-contained, so without this a deactivated or demoted user kept their
rights until the token expired (15 minutes). The check costs one indexed read per user per
`TTL_SECONDS` per process: answers are remembered briefly, like verified API keys
(`auth.keycache`). A change through this process's ORM (admin API, CLI) empties the memo
at flush and again at commit (`store.orm_changes.drop_on_change`), so it takes effect on
the next request here; other processes honour it within `TTL_SECONDS`.
"""

from __future__ import annotations

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
_clock = time.monotonic  # a module attribute, so tests can move time for this memo only


def invalidate(*_args: Any) -> None:
    global _generation
    with _lock:
        _generation += 1
        _memo.clear()


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


async def ensure_current(factory: sessionmaker[Session], principal: Principal) -> None:
    """Raise `AuthError` if the user's token version moved on since the token was issued
    (role change, deactivation, password change) or the user is gone or inactive."""
    if principal.kind != "user" or principal.token_version is None:
        return
    hit, version = _get(principal.user_id)
    if not hit:
        seen = _generation
        version = await run_in_threadpool(_lookup, factory, principal.user_id)
        _put(principal.user_id, version, seen)
    if version is None or version != principal.token_version:
        raise AuthError("access token is no longer valid (account changed); please sign in again")
