"""The one migration chain upgrades and downgrades on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import inspect

from cerflow.db import make_engine
from cerflow.store import collation, migrate
from cerflow.store.base import Base
from tests.conftest import PG_ADMIN_URL, _pg_url

EXPECTED = {"reports", "report_products", "report_events", "recalls", "devices", "source_snapshots"}


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables >= EXPECTED
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    indexes = {i["name"] for i in inspect(engine).get_indexes("report_products")}
    assert "ix_report_products_product_key" in indexes
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current(engine) is None
    migrate.upgrade(engine)  # and up again: the downgrade really undid everything
    assert migrate.current(engine) is not None
    engine.dispose()


def test_sqlite_upgrade_downgrade(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_upgrade_downgrade() -> None:
    admin = make_engine(PG_ADMIN_URL)
    name = f"cerflow_mig_{uuid.uuid4().hex[:8]}"
    collation.create_database(admin, name)
    try:
        _roundtrip(_pg_url(name))
    finally:
        collation.drop_database(admin, name)
        admin.dispose()


def test_models_match_migrations(tmp_path: Path) -> None:
    """Like `alembic check`: autogenerate against a migrated DB finds nothing to add."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import cerflow.store.all_models  # noqa: F401

    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()
