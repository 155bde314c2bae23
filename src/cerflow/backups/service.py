"""`cerflow backup` and `cerflow restore`: the database and the published reports.

A backup is a directory: the database (PostgreSQL: `pg_dump` custom format; SQLite: the
online backup API, consistent while the service writes), every published report file,
and `manifest.json` with each file's size and SHA-256 plus the row count of every table
and the schema revision. Restore verifies every checksum before touching anything,
refuses a target that holds data unless forced, and checks the restored row counts
against the manifest, so "it restored" means the numbers match, not "no error".

Passwords never reach a command line (visible in `ps`) or a log: pg_dump/pg_restore get
theirs through the environment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from cerflow import __version__
from cerflow.backups.models import BackupRun
from cerflow.config import Settings
from cerflow.errors import CerflowError
from cerflow.reports.files import reports_dir
from cerflow.store import (
    all_models,  # noqa: F401 - every table in Base.metadata
    migrate,
)
from cerflow.store.base import Base

log = structlog.get_logger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
PG_DUMP_FILE = "database.dump"
SQLITE_FILE = "database.sqlite"
REPORTS = "reports"
# Not data: the record of backups is about this database's history, not part of it.
NOT_COUNTED = {"backup_runs"}


class BackupError(CerflowError):
    """A backup or restore that cannot go ahead; nothing was changed."""

    status_code = 409


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    manifest: dict[str, Any]
    size_bytes: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(root: Path, path: Path) -> dict[str, Any]:
    return {
        "path": path.relative_to(root).as_posix(),
        "size": path.stat().st_size,
        "sha256": sha256_of(path),
    }


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per cerflow table (a missing table counts 0: an empty database)."""
    present = set(inspect(engine).get_table_names())
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in NOT_COUNTED:
                continue
            counts[table.name] = (
                int(conn.scalar(select(func.count()).select_from(table)) or 0)
                if table.name in present
                else 0
            )
    return counts


def _pg_args(engine: Engine) -> tuple[list[str], dict[str, str]]:
    url = make_url(engine.url.render_as_string(hide_password=False))
    args = ["--host", url.host or "localhost", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return [*args, "--dbname", url.database or "postgres"], env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client tools "
            "(Debian: apt-get install postgresql-client) in the same major version as the server"
        )
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        # pg_dump's messages name the database and the problem, never the password.
        raise BackupError(f"{Path(argv[0]).name} failed: {proc.stderr.strip()[-2000:]}")


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def create(settings: Settings, engine: Engine, out: Path) -> BackupResult:
    """Write a backup of the database and the reports into `out` (created; must be new)."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} already holds files: give a new directory for each backup")
    out.mkdir(parents=True, exist_ok=True)
    dialect = engine.dialect.name
    started = dt.datetime.now(dt.UTC)
    try:
        revision = migrate.current(engine)
        counts = row_counts(engine)
        if dialect == "postgresql":
            db_file = out / PG_DUMP_FILE
            args, env = _pg_args(engine)
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(db_file),
                    *args,
                ],
                env,
            )
        elif dialect == "sqlite":
            db_file = out / SQLITE_FILE
            source = sqlite3.connect(_sqlite_path(engine))
            target = sqlite3.connect(db_file)
            try:
                source.backup(target)  # consistent even while the service writes
            finally:
                target.close()
                source.close()
        else:
            raise BackupError(f"no backup method for a {dialect} database")
        files = []
        published = reports_dir(settings.data_dir)
        if published.is_dir():
            for path in sorted(published.rglob("*")):
                rel = path.relative_to(published)
                if not path.is_file() or any(p.startswith(".") for p in rel.parts):
                    continue  # a render in progress publishes later
                dest = out / REPORTS / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                files.append(_entry(out, dest))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": started.isoformat(),
            "cerflow_version": __version__,
            "database": {
                "dialect": dialect,
                "revision": revision,
                "row_counts": counts,
                **_entry(out, db_file),
            },
            "files": files,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except Exception as exc:
        _record(engine, started, out, 0, None, error=str(exc)[:2000])
        raise
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    _record(engine, started, out, size, sha256_of(out / MANIFEST), error=None)
    log.info("backup_created", location=out.name, size_bytes=size, files=len(files))
    return BackupResult(out, manifest, size)


def _record(
    engine: Engine,
    started: dt.datetime,
    out: Path,
    size: int,
    manifest_sha: str | None,
    *,
    error: str | None,
) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(BackupRun).values(
                    started_at=started,
                    finished_at=dt.datetime.now(dt.UTC),
                    ok=error is None,
                    location=str(out)[:1000],
                    size_bytes=size,
                    manifest_sha256=manifest_sha,
                    error=error,
                )
            )
    except Exception as exc:  # an old schema without the table: the backup still stands
        log.warning("backup_not_recorded", error=type(exc).__name__)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} has no {MANIFEST}: is it a cerflow backup directory?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON ({exc}); the backup is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format (this cerflow reads format {FORMAT})")
    return manifest


def verify(directory: Path) -> list[str]:
    """Every problem found (missing file, size or checksum mismatch); empty when sound."""
    manifest = read_manifest(directory)
    problems = []
    for item in [manifest["database"], *manifest.get("files", [])]:
        rel = str(item["path"])
        path = (directory / rel).resolve()
        if directory.resolve() not in path.parents:
            problems.append(f"{rel}: points outside the backup directory")
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != item["size"]:
            problems.append(f"{rel}: {path.stat().st_size} bytes, manifest says {item['size']}")
        elif sha256_of(path) != item["sha256"]:
            problems.append(f"{rel}: SHA-256 differs from the manifest (file changed or damaged)")
    return problems


def _holds_data(settings: Settings, engine: Engine) -> str | None:
    counts = row_counts(engine)
    filled = sorted(t for t, n in counts.items() if n)
    if filled:
        return f"the database holds data (tables {', '.join(filled[:5])})"
    published = reports_dir(settings.data_dir)
    if published.is_dir() and any(p.is_file() for p in published.rglob("*")):
        return f"{published} holds report files"
    return None


def restore(settings: Settings, engine: Engine, directory: Path, *, force: bool) -> dict[str, int]:
    """Restore a verified backup; returns the restored row counts (equal to the manifest's)."""
    manifest = read_manifest(directory)
    problems = verify(directory)
    if problems:
        raise BackupError(
            "the backup fails verification, nothing was restored: " + "; ".join(problems[:10])
        )
    dialect = engine.dialect.name
    if manifest["database"]["dialect"] != dialect:
        raise BackupError(
            f"the backup is of a {manifest['database']['dialect']} database and the target is "
            f"{dialect}: restore into the same kind of database"
        )
    occupied = _holds_data(settings, engine)
    if occupied and not force:
        raise BackupError(
            f"the target is not empty: {occupied}. Restore into an empty database, or pass "
            "--force to replace what is there"
        )
    db_file = directory / manifest["database"]["path"]
    if dialect == "postgresql":
        args, env = _pg_args(engine)
        engine.dispose()  # no pooled connection holds a lock on what is dropped
        with engine.connect() as conn:  # pg_restore --clean does not drop what the dump lacks
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            conn.commit()
        engine.dispose()
        _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                *args,
                str(db_file),
            ],
            env,
        )
    else:
        target_path = _sqlite_path(engine)
        engine.dispose()
        source = sqlite3.connect(db_file)
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    published = reports_dir(settings.data_dir)
    if force and published.is_dir():
        shutil.rmtree(published)
    for item in manifest.get("files", []):
        rel = Path(item["path"]).relative_to(REPORTS)
        dest = published / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(directory / item["path"], dest)
    restored = row_counts(engine)
    expected = {t: int(n) for t, n in manifest["database"]["row_counts"].items()}
    differ = {t: (restored.get(t), n) for t, n in expected.items() if restored.get(t) != n}
    if differ:
        raise BackupError(f"restored row counts differ from the manifest: {differ}")
    log.info("backup_restored", location=directory.name, tables=len(restored))
    return restored
