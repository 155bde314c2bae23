"""The caller's report list: one indexed Core query, JSON built once, a 1 s per-user memo.

Listing is the page clients poll. Under load the ORM path (a session, 50 mapped objects,
a commit, then response-model validation) held a pooled connection per request until the
pool ran dry. Here the query reads plain columns and the encoded JSON is kept per user for
`TTL_SECONDS` in this process.

Freshness bound: a report written by another process (a worker) appears within
`TTL_SECONDS`; one written through this process's ORM (the embedded job runner) drops
every memo at once (mapper events on `CerReport`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.reports.models import CerReport
from cerflow.reports.schemas import ReportOut
from cerflow.store.orm_changes import drop_on_change

TTL_SECONDS = 1.0
MAX_USERS = 10_000
LIMIT = 200

_adapter = TypeAdapter(list[ReportOut])
_lock = threading.Lock()
# Per session factory (weakly: a disposed app or test database takes its entries along),
# then per owner id: (expiry, JSON body).
_memo: weakref.WeakKeyDictionary[sessionmaker[Session], OrderedDict[int, tuple[float, bytes]]] = (
    weakref.WeakKeyDictionary()
)
_generation = 0
WAIT_SECONDS = 5.0
# (id of the session factory, owner id) -> set when the read in progress has finished.
_in_flight: dict[tuple[int, int], threading.Event] = {}


def _invalidate(*_args: Any) -> None:
    global _generation
    with _lock:
        _generation += 1
        _memo.clear()


drop_on_change((CerReport,), ("after_insert", "after_update", "after_delete"), _invalidate)


def _query(session: Session, owner_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            CerReport.id,
            CerReport.job_id,
            CerReport.product_kind,
            CerReport.product_ref,
            CerReport.title,
            CerReport.files,
            CerReport.created_at,
        )
        .where(CerReport.owner_id == owner_id)
        .order_by(CerReport.created_at.desc(), CerReport.id)
        .limit(LIMIT)
    ).all()
    return [
        {
            "id": r.id,
            "job_id": r.job_id,
            "product_kind": r.product_kind,
            "product_ref": r.product_ref,
            "title": r.title,
            "formats": sorted(r.files or {}),
            # SQLite hands back naive datetimes; they were stored as UTC.
            "created_at": r.created_at
            if r.created_at is None or r.created_at.tzinfo
            else r.created_at.replace(tzinfo=dt.UTC),
        }
        for r in rows
    ]


def _entry(factory: sessionmaker[Session], owner_id: int) -> tuple[float, bytes] | None:
    memo = _memo.get(factory)
    return memo.get(owner_id) if memo is not None else None


def list_json(factory: sessionmaker[Session], owner_id: int) -> bytes:
    """The owner's newest reports as a JSON array (blocking: call from a worker thread).

    When the memo lapses, the many requests of a polling client arrive together; one of
    them reads the database and the others wait for its answer (at most `WAIT_SECONDS`,
    then they read for themselves) instead of each taking a pooled connection.
    """
    now = time.monotonic()
    flight_key = (id(factory), owner_id)
    with _lock:
        item = _entry(factory, owner_id)
        if item is not None and item[0] > now:
            return item[1]
        running = _in_flight.get(flight_key)
        if running is None:
            _in_flight[flight_key] = threading.Event()
    if running is not None:
        running.wait(WAIT_SECONDS)
        fresh = cached_json(factory, owner_id)
        if fresh is not None:
            return fresh
        return _read(factory, owner_id, time.monotonic(), leader=False)
    try:
        return _read(factory, owner_id, now, leader=True)
    finally:
        with _lock:
            done = _in_flight.pop(flight_key, None)
        if done is not None:
            done.set()


def _read(factory: sessionmaker[Session], owner_id: int, now: float, *, leader: bool) -> bytes:
    with _lock:
        generation = _generation
    with factory() as session:
        rows = _query(session, owner_id)
        session.rollback()
    body = _adapter.dump_json(_adapter.validate_python(rows))
    with _lock:
        if generation == _generation and leader:  # nothing changed while we were reading
            memo = _memo.setdefault(factory, OrderedDict())
            memo[owner_id] = (now + TTL_SECONDS, body)
            memo.move_to_end(owner_id)
            while len(memo) > MAX_USERS:
                memo.popitem(last=False)
    return body


def cached_json(factory: sessionmaker[Session], owner_id: int) -> bytes | None:
    """The memoized list if still fresh, without blocking on the database."""
    with _lock:
        item = _entry(factory, owner_id)
    return item[1] if item is not None and item[0] > time.monotonic() else None
