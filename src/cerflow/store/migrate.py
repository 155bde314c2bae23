"""Run Alembic programmatically; idempotent, and serialized across replicas on PostgreSQL."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant: replicas starting together take this advisory lock in turn.
_ADVISORY_LOCK_ID = 0x0CE2F10


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_ID})
                conn.commit()


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


SchemaState = Literal["current", "behind", "ahead", "empty"]


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def code_heads() -> frozenset[str]:
    """The revisions this code expects the database at (one, unless history branched)."""
    return frozenset(_script().get_heads())


def schema_state(conn: Connection) -> SchemaState:
    """Where the database schema stands against this code.

    "behind": the database is at an older revision this code knows (a migration has not
    run yet: queries may hit missing columns). "ahead": its revision is unknown here, i.e.
    a newer release migrated it; migrations are additive (expand, then contract a release
    later), so the older code keeps working during a rolling update."""
    from alembic.runtime.migration import MigrationContext

    revisions = set(MigrationContext.configure(conn).get_current_heads())
    if not revisions:
        return "empty"
    if revisions == set(code_heads()):
        return "current"
    script = _script()
    try:
        for rev in revisions:
            script.get_revision(rev)
    except CommandError:
        return "ahead"
    return "behind"
