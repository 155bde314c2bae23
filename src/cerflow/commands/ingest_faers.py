"""`cerflow ingest faers PATH.zip [PATH.zip ...]`: FDA quarterly ASCII extracts into the store.

"deleted" in the summary counts the quarter's cases on its deleted-cases list plus stored
cases that list removed from the store.
Each zip is one transaction (the loader's): a malformed file stops with its member, line and
field named and leaves the store as it was; zips already imported stay imported. Give the
quarters oldest first; a case version older than the stored one is never applied anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cerflow.commands._summary import rows_table
from cerflow.db import make_engine
from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load import LoadStats
from cerflow.sources.base import SourceFormatError
from cerflow.store import migrate

console = Console(stderr=True, soft_wrap=True)  # error paths stay copyable


def ingest_zip(
    engine: Any, path: Path, progress: Progress | None = None
) -> tuple[LoadStats, dict[str, Any]]:
    """Read, normalize and load one quarterly zip; returns loader and reader statistics.

    Uses the columnar path (`etl.faers_columnar` + `etl.load_columnar`), proven equal to the
    per-record reference by tests; cases on the quarter's deleted list are also removed from
    the store (`LoadStats.deleted`)."""
    task = None
    if progress is not None:
        task = progress.add_task(f"{path.name}: reading", total=None)
    frames = read_faers_frames(path)
    if progress is not None and task is not None:
        progress.update(task, description=f"{path.name}: loading", total=frames.reports.height)

    def advance(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    load = load_quarter(engine, frames, advance)
    if progress is not None and task is not None:
        progress.update(task, description=path.name)
    return load, frames.stats


def _summary(rows: list[tuple[str, LoadStats, dict[str, Any]]]) -> Table:
    return rows_table(
        "FAERS import",
        "file",
        ("DEMO rows", "superseded", "deleted"),
        (
            (
                name,
                (
                    src["demo_rows"],
                    src["superseded"] + src["duplicate_primaryid"],
                    src["deleted"] + load.deleted,
                ),
                load,
            )
            for name, load, src in rows
        ),
    )


def ingest_faers(
    paths: Annotated[
        list[Path],
        typer.Argument(help="FAERS/AERS quarterly ASCII zips (faers_ascii_2017q2.zip ...)."),
    ],
) -> None:
    """Import FAERS quarterly ASCII zips (current and legacy AERS layouts)."""
    for path in paths:
        if not path.is_file():
            console.print(f"[red]error:[/red] {path}: no such file")
            raise typer.Exit(2)
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        done: list[tuple[str, LoadStats, dict[str, Any]]] = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            for path in paths:
                try:
                    load, src = ingest_zip(engine, path, progress)
                except SourceFormatError as exc:
                    progress.stop()
                    if done:
                        Console().print(_summary(done))
                    console.print(
                        f"[red]error:[/red] {path}: {exc}\nNothing from this file was stored; "
                        "fix or re-download the file and run the import again."
                    )
                    raise typer.Exit(1) from None
                done.append((path.name, load, src))
        Console().print(_summary(done))
    finally:
        engine.dispose()


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest faers` to the ingest group."""
    ingest_app.command("faers")(ingest_faers)
