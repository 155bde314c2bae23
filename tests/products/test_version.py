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


def test_expired_memo_answers_at_once_and_refreshes_in_the_background(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the TTL the old version is served while one background read fetches the new."""
    first = _orm_snapshot(factory, 1)

    async def scenario() -> list[str]:
        memo = version.DataVersionMemo(factory, ttl_seconds=0.05)
        seen = [await memo.get()]
        _core_snapshot(factory, 2)  # another process's import
        await asyncio.sleep(0.1)  # TTL over
        reads = 0
        real_read = memo._read

        def counted() -> str:
            nonlocal reads
            reads += 1
            return real_read()

        monkeypatch.setattr(memo, "_read", counted)
        seen += await asyncio.gather(*(memo.get() for _ in range(20)))  # all stale, at once
        assert memo._background is not None
        await memo._background
        seen.append(await memo.get())
        assert reads == 1
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == str(first) and set(seen[1:21]) == {str(first)}
    assert seen[21] == str(first + 1)


def test_failed_background_refresh_keeps_the_old_version(
    factory: sessionmaker[Session],
) -> None:
    first = _orm_snapshot(factory, 1)

    async def scenario() -> tuple[str, str]:
        memo = version.DataVersionMemo(factory, ttl_seconds=0)
        assert await memo.get() == str(first)

        def broken() -> str:
            raise ConnectionError("database down")

        memo._read = broken  # type: ignore[method-assign]
        stale = await memo.get()
        assert memo._background is not None
        await memo._background
        return stale, await memo.get()

    assert asyncio.run(scenario()) == (str(first), str(first))
