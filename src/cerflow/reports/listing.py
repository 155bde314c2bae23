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

import threading
import time
from collections import OrderedDict
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session, sessionmaker

from cerflow.reports.models import CerReport
from cerflow.reports.schemas import ReportOut

TTL_SECONDS = 1.0
MAX_USERS = 10_000
LIMIT = 200

_adapter = TypeAdapter(list[ReportOut])
_lock = threading.Lock()
_memo: OrderedDict[tuple[int, int], tuple[float, bytes]] = OrderedDict()
_generation = 0


def _invalidate(*_args: Any) -> None:
    global _generation
    with _lock:
        _generation += 1
        _memo.clear()


def _changed(_mapper: Any, _connection: Any, target: CerReport) -> None:
    _invalidate()
    session = object_session(target)
    if session is not None:
        session.info["cerflow_reports_changed"] = True


def _after_commit(session: Session) -> None:
    # Flush-time drop above, then once more at commit: a list read in between is stale.
    if session.info.pop("cerflow_reports_changed", False):
        _invalidate()


for _event in ("after_insert", "after_update", "after_delete"):
    event.listen(CerReport, _event, _changed)
event.listen(Session, "after_commit", _after_commit)


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
            "created_at": r.created_at,
        }
        for r in rows
    ]


def list_json(factory: sessionmaker[Session], owner_id: int) -> bytes:
    """The owner's newest reports as a JSON array (blocking: call from a worker thread)."""
    key = (id(factory), owner_id)
    now = time.monotonic()
    with _lock:
        item = _memo.get(key)
        if item is not None and item[0] > now:
            return item[1]
        generation = _generation
    with factory() as session:
        rows = _query(session, owner_id)
        session.rollback()
    body = _adapter.dump_json(_adapter.validate_python(rows))
    with _lock:
        if generation == _generation:  # nothing changed while we were reading
            _memo[key] = (now + TTL_SECONDS, body)
            _memo.move_to_end(key)
            while len(_memo) > MAX_USERS:
                _memo.popitem(last=False)
    return body


def cached_json(factory: sessionmaker[Session], owner_id: int) -> bytes | None:
    """The memoized list if still fresh, without blocking on the database."""
    with _lock:
        item = _memo.get((id(factory), owner_id))
    return item[1] if item is not None and item[0] > time.monotonic() else None
