"""Shared fixtures: real sample data, real PostgreSQL databases, migrated SQLite files.

Each test session (each xdist worker) gets its own PostgreSQL database, migrated once with
Alembic and dropped at the end. Tests never depend on order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

import cerflow.store.all_models  # noqa: F401 - every table, for TRUNCATE
from cerflow.db import make_engine
from cerflow.store import collation, migrate
from cerflow.store.base import Base

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CERFLOW_SHARED_DATA", REPO_ROOT.parent / "shared/data/real"))
PG_ADMIN_URL = os.environ.get(
    "CERFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("CERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real records in `../shared/data/real`; skip (or fail under CI) when absent."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if os.environ.get("CERFLOW_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"CERFLOW_REQUIRE_SHARED_DATA=1 but {SHARED_DATA} is missing")
    pytest.skip(f"real sample data not found at {SHARED_DATA} (set CERFLOW_SHARED_DATA)")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


class PgDatabases:
    """Creates migrated PostgreSQL databases for this session and drops them at the end.

    Test families that commit data get a database of their own, so one family's rows never
    change another's numbers (the API tests compute statistics over the whole store).
    """

    def __init__(self) -> None:
        self.admin = make_engine(PG_ADMIN_URL)
        self.names: list[str] = []

    def create(self, label: str, **locale: str) -> str:
        """A migrated database with the store's collation (`collation.create_database`;
        `locale` overrides it: collate, ctype, icu_locale)."""
        name = f"cerflow_test_{label}_{uuid.uuid4().hex[:8]}"
        collation.create_database(self.admin, name, **locale)
        self.names.append(name)
        url = _pg_url(name)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        return url

    def drop_all(self) -> None:
        for name in self.names:
            collation.drop_database(self.admin, name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_databases: PgDatabases) -> str:
    """A PostgreSQL database for tests that roll back (API tests); nothing commits here."""
    return pg_databases.create("api")


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def jobs_pg_url(pg_databases: PgDatabases) -> str:
    """A PostgreSQL database for real-worker tests (jobs, alerts, webhooks) that commit."""
    return pg_databases.create("jobs")


@pytest.fixture(scope="session")
def jobs_pg_engine(jobs_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(jobs_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def scratch_pg_engine(pg_databases: PgDatabases) -> Iterator[Engine]:
    """A PostgreSQL database emptied around each `db_engine` test."""
    engine = make_engine(pg_databases.create("scratch"))
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cerflow.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same test on the embedded default and on the real PostgreSQL (emptied after)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'cerflow.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("scratch_pg_engine")
        _truncate_all(engine)
        yield engine
        _truncate_all(engine)
