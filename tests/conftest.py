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

from cerflow.db import make_engine
from cerflow.store import migrate
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


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    admin = make_engine(PG_ADMIN_URL)
    name = f"cerflow_test_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
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
        engine = request.getfixturevalue("pg_engine")
        _truncate_all(engine)
        yield engine
        _truncate_all(engine)
