"""Report listing: order, owner filter, JSON shape, and when the 1 s memo is dropped."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import User
from cerflow.db import make_session_factory
from cerflow.jobs.models import Job
from cerflow.reports import listing
from cerflow.reports.models import CerReport
from cerflow.unit_of_work import unit_of_work

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _user(factory: sessionmaker[Session], email: str) -> int:
    with unit_of_work(factory) as s:
        user = User(email=email, password_hash="x", role="viewer")
        s.add(user)
        s.flush()
        return user.id


def _report(s: Session, owner: int, n: int, files: dict[str, str] | None = None) -> None:
    job = Job(id=f"job{owner}-{n}", type="report", state="succeeded", owner_id=owner)
    s.add(job)
    s.flush()
    s.add(
        CerReport(
            id=f"r{owner}-{n}",
            job_id=job.id,
            owner_id=owner,
            product_kind="device",
            product_ref="DQA",
            title=f"CER {n}",
            files=files or {},
            created_at=T0 + dt.timedelta(hours=n),
        )
    )


@pytest.fixture
def factory(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sqlite_engine)


def test_lists_own_reports_newest_first(factory: sessionmaker[Session]) -> None:
    alice, bob = _user(factory, "alice@example.org"), _user(factory, "bob@example.org")
    with unit_of_work(factory) as s:
        _report(s, alice, 1, {"pdf": "a.pdf", "html": "a.html"})
        _report(s, alice, 2)
        _report(s, bob, 3)
    body = json.loads(listing.list_json(factory, alice))
    assert [r["id"] for r in body] == [f"r{alice}-2", f"r{alice}-1"]
    assert body[1] == {
        "id": f"r{alice}-1",
        "job_id": f"job{alice}-1",
        "product_kind": "device",
        "product_ref": "DQA",
        "title": "CER 1",
        "formats": ["html", "pdf"],
        "created_at": "2026-01-01T01:00:00Z",
    }
    assert listing.cached_json(factory, alice) == listing.list_json(factory, alice)


def test_orm_write_drops_the_memo_but_a_foreign_write_waits_for_the_ttl(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = _user(factory, "carol@example.org")
    assert json.loads(listing.list_json(factory, owner)) == []
    with unit_of_work(factory) as s:  # through the ORM, as the embedded job runner writes
        _report(s, owner, 1)
    assert [r["id"] for r in json.loads(listing.list_json(factory, owner))] == [f"r{owner}-1"]

    # A write the ORM does not see (another process) is served from the memo...
    with unit_of_work(factory) as s:
        s.execute(insert(Job).values(id="jobx", type="report", state="succeeded"))
        s.execute(
            insert(CerReport).values(
                id="rx",
                job_id="jobx",
                owner_id=owner,
                product_kind="drug",
                product_ref="X",
                title="foreign",
                files={},
                created_at=T0 + dt.timedelta(days=1),
            )
        )
    assert [r["id"] for r in json.loads(listing.list_json(factory, owner))] == [f"r{owner}-1"]
    # ...until the memo expires.
    monkeypatch.setattr(listing, "TTL_SECONDS", 0.0)
    listing._invalidate()
    assert [r["id"] for r in json.loads(listing.list_json(factory, owner))] == ["rx", f"r{owner}-1"]
    assert listing.cached_json(factory, owner) is None  # TTL 0: nothing kept


def test_concurrent_misses_read_the_database_once(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    owner = _user(factory, "dave@example.org")
    with unit_of_work(factory) as s:
        _report(s, owner, 1)
    listing._invalidate()
    real_query = listing._query
    reads: list[int] = []

    def slow_query(session: Session, owner_id: int) -> list[dict[str, object]]:
        reads.append(owner_id)
        time.sleep(0.5)  # the others arrive while this read is in progress
        return real_query(session, owner_id)

    monkeypatch.setattr(listing, "_query", slow_query)
    bodies: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(listing.list_json(factory, owner)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert reads == [owner]
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert [r["id"] for r in json.loads(bodies[0])] == [f"r{owner}-1"]
