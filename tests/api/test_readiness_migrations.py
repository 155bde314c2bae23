"""Readiness follows the schema: behind the code is not ready, ahead of it (a newer
release migrated first, as in a rolling update) still is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cerflow.app import create_app
from cerflow.db import make_engine
from cerflow.store import migrate
from tests.api.conftest import make_settings
from tests.conftest import PgDatabases


@pytest.fixture
def pg_scratch_url(pg_databases: PgDatabases) -> str:
    return pg_databases.create("ready")


def _ready(url: str, redis_prefix: str) -> tuple[int, dict[str, str]]:
    app = create_app(make_settings(url, redis_prefix))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/health/ready")
    return r.status_code, r.json()


def test_readiness_follows_the_schema_revision(pg_scratch_url: str, redis_prefix: str) -> None:
    engine = make_engine(pg_scratch_url)
    try:
        assert _ready(pg_scratch_url, redis_prefix) == (
            200,
            {"status": "ok", "database": "ok", "redis": "ok", "migrations": "current"},
        )
        (head,) = migrate.code_heads()
        migrate.downgrade(engine, "-1")  # as if this release's migration had not run
        status, body = _ready(pg_scratch_url, redis_prefix)
        assert (status, body["status"], body["migrations"]) == (503, "unavailable", "behind")
        migrate.upgrade(engine)
        with engine.begin() as conn:  # a newer release's revision, unknown to this code
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        status, body = _ready(pg_scratch_url, redis_prefix)
        assert (status, body["migrations"]) == (200, "ahead")
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    finally:
        engine.dispose()
