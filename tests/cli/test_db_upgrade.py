"""`cerflow db upgrade`: migrates, and on a PostgreSQL store that does not collate bytewise
says how to recreate it, without failing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.store import migrate
from tests.conftest import PgDatabases


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _upgrade(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("CERFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def _head(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.current(engine)
    finally:
        engine.dispose()


def test_c_utf8_store_gets_advice_and_still_migrates(
    pg_databases: PgDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_databases.create("advice", collate="C.UTF-8")
    code, out, err = _upgrade(url, monkeypatch)
    assert code == 0, out + err
    assert f"database at revision {_head(url)}" in out
    assert "advice:" in err and "collates text with libc 'C.UTF-8', not 'C'" in err
    name = url.rsplit("/", 1)[1]
    assert f"pg_dump -Fc -d {name} -f {name}.dump" in err
    assert "--lc-collate=C --lc-ctype=C.UTF-8" in err


def test_c_store_and_sqlite_get_no_advice(
    pg_databases: PgDatabases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = pg_databases.create("noadvice")
    code, out, err = _upgrade(url, monkeypatch)
    assert code == 0 and "database at revision" in out and "advice" not in err
    code, out, err = _upgrade(f"sqlite:///{tmp_path}/s.db", monkeypatch)
    assert code == 0 and "database at revision" in out and "advice" not in err
