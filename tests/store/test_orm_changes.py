"""drop_on_change: the memo drop at flush and again after commit; ignored changes none."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cerflow.db import make_session_factory
from cerflow.store.models import SourceSnapshot
from cerflow.store.orm_changes import drop_on_change


def test_drop_at_flush_and_after_commit_only_for_watched_changes(sqlite_engine: Engine) -> None:
    drops: list[str] = []
    phase = {"now": ""}

    def ignore(_mapper: Any, target: Any) -> bool:
        return bool(target.location == "ignored")

    drop_on_change(
        (SourceSnapshot,), ("after_insert",), lambda: drops.append(phase["now"]), ignore=ignore
    )
    factory = make_session_factory(sqlite_engine)

    def snapshot(location: str) -> SourceSnapshot:
        return SourceSnapshot(source="t", location=location, sha256="0" * 64, record_count=0)

    with factory() as session:
        session.add(snapshot("watched"))
        phase["now"] = "flush"
        session.flush()
        phase["now"] = "commit"
        session.commit()
    assert drops == ["flush", "commit"]

    drops.clear()
    with factory() as session:
        session.add(snapshot("ignored"))
        session.commit()
    assert drops == []
