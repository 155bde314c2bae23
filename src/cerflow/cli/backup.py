"""`cerflow backup create|verify` and `cerflow restore`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console

from cerflow.cli._common import fail

backup_app = typer.Typer(
    help="Back up the database and the reports; verify a backup.", no_args_is_help=True
)
console = Console()


@backup_app.command("create")
def create(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="A new directory for this backup (default: <data dir>/backups/<UTC time>)",
    ),
) -> None:
    """Back up the database (pg_dump or SQLite online backup) and every published report,
    with a manifest of sizes and SHA-256 checksums."""
    from cerflow.backups import service
    from cerflow.config import get_settings
    from cerflow.db import make_engine

    settings = get_settings()
    target = out or settings.data_dir / "backups" / dt.datetime.now(dt.UTC).strftime(
        "%Y%m%dT%H%M%SZ"
    )
    engine = make_engine(settings=settings)
    try:
        result = service.create(settings, engine, target)
    except service.BackupError as exc:
        raise fail(exc) from None
    finally:
        engine.dispose()
    counts = result.manifest["database"]["row_counts"]
    console.print(
        f"backup written to [bold]{result.directory}[/]: {result.size_bytes:,} bytes, "
        f"{sum(counts.values()):,} rows in {len(counts)} tables, "
        f"{len(result.manifest['files'])} report files"
    )


@backup_app.command("verify")
def verify(directory: Path = typer.Argument(..., help="A backup directory")) -> None:
    """Check every file of a backup against its manifest (size and SHA-256)."""
    from cerflow.backups import service

    try:
        problems = service.verify(directory)
    except service.BackupError as exc:
        raise fail(exc) from None
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/]")
        raise fail(f"{len(problems)} problem(s): this backup must not be restored")
    console.print(f"{directory}: every file matches the manifest")


def restore(
    directory: Path = typer.Argument(
        ..., help="A backup directory made by `cerflow backup create`"
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace the data of a database (and reports) that is not empty"
    ),
) -> None:
    """Restore a backup into the configured database and data directory.

    Every checksum is verified first; a target holding data is refused without --force;
    the restored row counts are compared with the manifest's."""
    from cerflow.backups import service
    from cerflow.config import get_settings
    from cerflow.db import make_engine

    settings = get_settings()
    engine = make_engine(settings=settings)
    try:
        counts = service.restore(settings, engine, directory, force=force)
    except service.BackupError as exc:
        raise fail(exc) from None
    finally:
        engine.dispose()
    console.print(
        f"restored {sum(counts.values()):,} rows in {len(counts)} tables from {directory}; "
        "row counts equal the manifest's"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore)
