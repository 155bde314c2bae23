"""Run work after a transaction commits, and never if it rolls back.

A job enqueued during a request must only reach a worker once the rows it refers to are
committed; otherwise a fast worker can look for a row that does not exist yet, or for
one that a rollback will never write. Code that wants to enqueue calls
`on_commit(session, callback)`; the owner of the transaction calls `commit(session)`,
which commits and then runs the callbacks in order, or `rollback(session)`, which drops
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog
from sqlalchemy.orm import Session, sessionmaker

log = structlog.get_logger(__name__)

_KEY = "cerflow.after_commit"


def on_commit(session: Session, callback: Callable[[], object]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


def pending(session: Session) -> list[Callable[[], object]]:
    return list(session.info.get(_KEY, []))


def commit(session: Session) -> None:
    session.commit()
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a lost enqueue is recovered by the job sweeper
            # (the job table is the source of truth), so log it and carry on.
            log.exception(
                "after_commit_callback_failed", callback=getattr(callback, "__name__", "?")
            )


def rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.rollback()


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit (then run callbacks) on success, roll back (dropping them) on any error."""
    session = factory()
    try:
        yield session
        commit(session)
    except BaseException:
        rollback(session)
        raise
    finally:
        session.close()
