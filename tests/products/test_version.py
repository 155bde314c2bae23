"""Data-version memo: reads the newest snapshot id, reuses it, and drops it on an ORM import."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from cerflow.db import make_session_factory
from cerflow.products import version
from cerflow.store.models import SourceSnapshot
from cerflow.unit_of_work import unit_of_work


@pytest.fixture
def factory(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sqlite_engine)


def _orm_snapshot(factory: sessionmaker[Session], n: int) -> int:
    with unit_of_work(factory) as s:
        snap = SourceSnapshot(source="t", location=f"l{n}", sha256=f"{n:064d}", record_count=0)
        s.add(snap)
        s.flush()
        return snap.id


def _core_snapshot(factory: sessionmaker[Session], n: int) -> None:
    with unit_of_work(factory) as s:
        s.execute(
            insert(SourceSnapshot).values(
                source="t", location=f"l{n}", sha256=f"{n:064d}", record_count=0
            )
        )


def test_memo_follows_orm_imports_at_once_and_others_after_the_ttl(
    factory: sessionmaker[Session],
) -> None:
    memo = version.DataVersionMemo(factory, ttl_seconds=3600)
    assert asyncio.run(memo.get()) == "0"  # empty store
    first = _orm_snapshot(factory, 1)
    assert asyncio.run(memo.get()) == str(first)  # ORM insert: visible at once

    _core_snapshot(factory, 2)  # invisible to mapper events, like another process's import
    assert asyncio.run(memo.get()) == str(first)  # served from the memo
    version.invalidate()
    assert asyncio.run(memo.get()) == str(first + 1)

    memo0 = version.DataVersionMemo(factory, ttl_seconds=0)
    _core_snapshot(factory, 3)
    assert asyncio.run(memo0.get()) == str(first + 2)  # TTL 0: always asks the database
