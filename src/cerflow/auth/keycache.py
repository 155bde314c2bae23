"""Verified API keys remembered per process for a short time.

Without this every request with an API key checked out a pooled connection, read the key
and its owner and committed, in a worker thread: under load that dominated machine
clients' requests. Keys are SHA-256 digests (no argon2 on any request path), so the
saving is the database round trip, not hashing.

Revocation bound: a key revoked, or its owner deactivated, through this process's ORM (the
admin API, the CLI) is refused at once here: mapper events on `ApiKey` and `User` empty
the memo at flush and again at commit, and a look-up that raced with the change is not
stored. Other processes (the other uvicorn workers) refuse it within `TTL_SECONDS`.
Only successful verifications are kept; a wrong key always goes to the database.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import inspect

from cerflow.auth.models import ApiKey, User
from cerflow.auth.service import Principal
from cerflow.store.orm_changes import drop_on_change

TTL_SECONDS = 2.0
MAX_KEYS = 4096

_lock = threading.Lock()
_memo: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
_generation = 0
_clock = time.monotonic  # a module attribute, so tests can move time for this memo only


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def invalidate(*_args: Any) -> None:
    """Forget every remembered key (revocation, deactivation, role change)."""
    global _generation
    with _lock:
        _generation += 1
        _memo.clear()


def _only_last_used(mapper: Any, target: Any) -> bool:
    """The look-up's own usage stamp: nothing about the key's validity changed."""
    if not isinstance(target, ApiKey):
        return False
    state = inspect(target)
    changed = {
        attr.key for attr in mapper.column_attrs if state.attrs[attr.key].history.has_changes()
    }
    return changed <= {"last_used_at"}


drop_on_change((ApiKey, User), ("after_update",), invalidate, ignore=_only_last_used)
drop_on_change((ApiKey, User), ("after_delete",), invalidate)


def generation() -> int:
    """Take before the database look-up; pass to `put` so a racing revocation wins."""
    return _generation


def get(key: str) -> Principal | None:
    digest = _digest(key)
    with _lock:
        item = _memo.get(digest)
        if item is None:
            return None
        if item[0] <= _clock():
            _memo.pop(digest, None)
            return None
        return item[1]


def put(key: str, principal: Principal, seen_generation: int) -> None:
    digest = _digest(key)
    with _lock:
        if seen_generation != _generation:
            return
        _memo[digest] = (_clock() + TTL_SECONDS, principal)
        _memo.move_to_end(digest)
        while len(_memo) > MAX_KEYS:
            _memo.popitem(last=False)
