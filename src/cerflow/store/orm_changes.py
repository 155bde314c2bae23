"""Drop process-local memos when rows they were built from change through this process's ORM.

Several request paths keep answers in memory for a second or two (the data version, verified
API keys, report lists) so that hot requests skip the database. A write made through this
process's sessions must not wait for that TTL: the writer's next request would read its
own change back stale. The drop happens twice: at flush (the mapper event), and again after
that session commits, because a read by another request between the two still saw the old
committed row and may have stored it. Writes by other processes are covered by the TTLs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

Ignore = Callable[[Any, Any], bool]  # (mapper, target) -> True: this change does not matter


def drop_on_change(
    models: Iterable[type],
    events: Iterable[str],
    drop: Callable[[], None],
    *,
    ignore: Ignore | None = None,
) -> None:
    """Call `drop` when a mapper event in `events` fires on one of `models`, and once more
    after the commit of the session that made the change."""
    flag = object()  # this registration's mark in `Session.info`

    def changed(mapper: Any, _connection: Any, target: Any) -> None:
        if ignore is not None and ignore(mapper, target):
            return
        drop()
        session = object_session(target)
        if session is not None:
            session.info[flag] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(flag, False):
            drop()

    names = tuple(events)
    for model in models:
        for name in names:
            event.listen(model, name, changed)
    event.listen(Session, "after_commit", after_commit)
