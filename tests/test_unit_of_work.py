"""After-commit callbacks run once after commit and never after a rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cerflow.db import make_engine, make_session_factory
from cerflow.unit_of_work import on_commit, unit_of_work


def test_callbacks_after_commit_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'u.db'}")
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    seen: list[int] = []

    def check_row_visible() -> None:
        with factory() as other:  # the row is committed when the callback runs
            seen.append(int(other.scalar(text("SELECT count(*) FROM t")) or 0))

    with unit_of_work(factory) as s:
        s.execute(text("INSERT INTO t VALUES (1)"))
        on_commit(s, check_row_visible)
        assert seen == []
    assert seen == [1]

    with pytest.raises(RuntimeError), unit_of_work(factory) as s:
        s.execute(text("INSERT INTO t VALUES (2)"))
        on_commit(s, lambda: seen.append(99))
        raise RuntimeError("request failed")
    assert seen == [1]
    engine.dispose()
