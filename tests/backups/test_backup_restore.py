"""Backups restore: a populated database comes back with equal rows and checksums."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.backups import service
from cerflow.backups.service import BackupError
from cerflow.cli import app
from cerflow.config import Settings
from cerflow.db import make_engine, make_session_factory, session_scope
from cerflow.jobs.metrics import BACKUP_GAUGE, TableCollector
from cerflow.store import migrate
from tests.conftest import PgDatabases
from tests.system.store_seed import seed


def _populate(engine: Engine, settings: Settings) -> None:
    seed(engine)
    with session_scope(make_session_factory(engine)) as s:
        auth_service.create_user(
            session=s, email="writer@example.org", password="a long password 1", role=Role.ANALYST
        )
    folder = settings.data_dir / "reports" / "job-1"
    folder.mkdir(parents=True)
    (folder / "job-1.pdf").write_bytes(b"%PDF-1.7 not really" * 100)
    (folder / "facts.json").write_text('{"n": 1}', encoding="utf-8")
    (settings.data_dir / "reports" / ".job-2.abcd.tmp").mkdir()  # a render in progress


def _pg_fingerprints(engine: Engine) -> dict[str, str]:
    """md5 of every table's rows (ordered), computed by PostgreSQL itself."""
    out = {}
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            if table in ("alembic_version", "backup_runs"):
                continue
            out[table] = str(
                conn.scalar(
                    text(
                        "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                        f' FROM "{table}" x'
                    )
                )
            )
    return out


def test_postgres_backup_restores_into_a_fresh_database(
    pg_databases: PgDatabases, tmp_path: Path
) -> None:
    src_url, dst_url = pg_databases.create("bk_src"), pg_databases.create("bk_dst")
    src, dst = make_engine(src_url), make_engine(dst_url)
    src_settings = Settings(database_url=src_url, data_dir=tmp_path / "src")
    dst_settings = Settings(database_url=dst_url, data_dir=tmp_path / "dst")
    try:
        _populate(src, src_settings)
        before = service.row_counts(src)
        fingerprints = _pg_fingerprints(src)
        backup = tmp_path / "backup"
        result = service.create(src_settings, src, backup)
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["database"]["row_counts"] == before
        assert manifest["database"]["revision"] == migrate.current(src)
        assert sorted(f["path"] for f in manifest["files"]) == [
            "reports/job-1/facts.json",
            "reports/job-1/job-1.pdf",
        ]
        assert result.size_bytes > manifest["database"]["size"] > 0
        assert service.verify(backup) == []
        with src.connect() as conn:
            assert conn.execute(text("SELECT ok, size_bytes FROM backup_runs")).one() == (
                True,
                result.size_bytes,
            )

        gauges = {
            m.name: m.samples[0].value
            for m in TableCollector(make_session_factory(src)).collect()
            if not m.samples[0].labels
        }
        age = time.time() - gauges[BACKUP_GAUGE]
        assert 0 <= age < 120

        restored = service.restore(dst_settings, dst, backup, force=False)
        assert restored == before and before["reports"] > 100 and before["users"] == 1
        assert _pg_fingerprints(dst) == fingerprints
        pdf = dst_settings.data_dir / "reports" / "job-1" / "job-1.pdf"
        assert pdf.read_bytes() == (src_settings.data_dir / "reports/job-1/job-1.pdf").read_bytes()
        assert migrate.current(dst) == migrate.current(src)

        # A second restore over the data is refused unless forced...
        with pytest.raises(BackupError, match="not empty"):
            service.restore(dst_settings, dst, backup, force=False)
        assert service.restore(dst_settings, dst, backup, force=True) == before
    finally:
        src.dispose()
        dst.dispose()


def test_a_damaged_backup_restores_nothing(pg_databases: PgDatabases, tmp_path: Path) -> None:
    src_url, dst_url = pg_databases.create("bk_src2"), pg_databases.create("bk_dst2")
    src, dst = make_engine(src_url), make_engine(dst_url)
    src_settings = Settings(database_url=src_url, data_dir=tmp_path / "src")
    dst_settings = Settings(database_url=dst_url, data_dir=tmp_path / "dst")
    try:
        _populate(src, src_settings)
        backup = tmp_path / "backup"
        service.create(src_settings, src, backup)
        (backup / "reports/job-1/facts.json").write_text('{"n": 2}', encoding="utf-8")
        problems = service.verify(backup)
        assert problems == [
            "reports/job-1/facts.json: SHA-256 differs from the manifest (file changed or damaged)"
        ]
        with pytest.raises(BackupError, match="fails verification, nothing was restored"):
            service.restore(dst_settings, dst, backup, force=False)
        assert sum(service.row_counts(dst).values()) == 0
        assert not (dst_settings.data_dir / "reports").exists()
        run = CliRunner().invoke(app, ["backup", "verify", str(backup)])
        assert run.exit_code == 1 and "facts.json" in run.output
    finally:
        src.dispose()
        dst.dispose()


def test_sqlite_backup_round_trip(tmp_path: Path) -> None:
    src_settings = Settings(data_dir=tmp_path / "src")
    dst_settings = Settings(data_dir=tmp_path / "dst")
    src = make_engine(src_settings.effective_database_url, settings=src_settings)
    (tmp_path / "dst").mkdir()
    dst = make_engine(dst_settings.effective_database_url, settings=dst_settings)
    try:
        migrate.upgrade(src)
        migrate.upgrade(dst)
        _populate(src, src_settings)
        before = service.row_counts(src)
        service.create(src_settings, src, tmp_path / "backup")
        with pytest.raises(BackupError, match="postgresql"):
            pg_like = make_engine("postgresql+psycopg://u@127.0.0.1:1/x", settings=src_settings)
            service.restore(src_settings, pg_like, tmp_path / "backup", force=True)
        assert service.restore(dst_settings, dst, tmp_path / "backup", force=False) == before
        assert before["reports"] > 100
    finally:
        src.dispose()
        dst.dispose()
