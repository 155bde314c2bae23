"""`cerflow ingest maude PATH...`: FDA MAUDE bulk files (or directories / zips of them).

All paths given form one import and one loader transaction, because a report's rows are spread
over several files (mdrfoi, foidev, patient, foitext...) and only the join makes a report: a
malformed file stops the import with file, line and field named and leaves the store as it
was. Running the same import again changes nothing (idempotent upserts keyed by
`mdr_report_key`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from cerflow.commands._summary import figures_table, load_figures
from cerflow.db import make_engine
from cerflow.etl.load import LoadStats, load_reports
from cerflow.etl.maude import device_event_to_canonical
from cerflow.etl.records import CanonicalReport
from cerflow.sources.base import SourceFormatError
from cerflow.sources.maude_bulk import MaudeBulkReader
from cerflow.store import migrate

console = Console(stderr=True, soft_wrap=True)  # error paths stay copyable


def _canonical(reader: MaudeBulkReader, source_stats: dict[str, Any]) -> Iterator[CanonicalReport]:
    for record in reader:
        yield device_event_to_canonical(record.payload)
    # The loader writes `source_stats` to the snapshot after the last record: fill it in place.
    source_stats.update(reader.stats.as_dict())


def ingest_paths(
    engine: Engine,
    paths: list[Path],
    *,
    progress: Progress | None = None,
    tmp_dir: Path | None = None,
) -> tuple[LoadStats, dict[str, Any]]:
    """Read, join, normalize and load MAUDE files; returns loader and reader statistics."""
    task = progress.add_task("reading MAUDE rows", total=None) if progress is not None else None

    def rows(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    def ready(reports: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, description="loading reports", total=reports, completed=0)

    def advance(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    reader = MaudeBulkReader(paths, tmp_dir=tmp_dir, on_rows=rows, on_ready=ready)
    source_stats: dict[str, Any] = {"files": {f.location: f.kind for f in reader.files}}
    load = load_reports(
        engine,
        _canonical(reader, source_stats),
        reader.provenance,
        source_stats=source_stats,
        progress=advance,
    )
    return load, source_stats


def summary_table(load: LoadStats, source: dict[str, Any]) -> Table:
    """One row per figure: the reader's (files, rows, joins) then the loader's."""
    files = source.get("files", {})
    figures: list[tuple[str, object]] = [
        ("files", len(files)),
        ("rows", sum(f.get("rows", 0) for f in files.values() if isinstance(f, dict))),
        ("reports joined", source.get("documents", 0)),
        ("duplicate rows", source.get("duplicate_reports", 0) + source.get("child_duplicates", 0)),
        ("orphan rows (no mdrfoi row)", source.get("orphan_rows", 0)),
        *load_figures(load),
    ]
    return figures_table("MAUDE import", "", figures)


def ingest_maude(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="MAUDE files (mdrfoi, foidev/device, patient, foitext, foidevproblem...), "
            "directories holding them, or zips.",
            show_default=False,
        ),
    ],
    tmp_dir: Annotated[
        Path | None,
        typer.Option(
            "--tmp-dir", help="Where the on-disk join goes (about the size of the input)."
        ),
    ] = None,
) -> None:
    """Import FDA MAUDE bulk files (device adverse events) into the store."""
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            try:
                load, source = ingest_paths(engine, paths, progress=progress, tmp_dir=tmp_dir)
            except SourceFormatError as exc:
                progress.stop()
                console.print(
                    f"[red]error:[/red] {exc}\nNothing from this import was stored; fix or "
                    "remove the file and run the command again."
                )
                raise typer.Exit(1) from None
        Console().print(summary_table(load, source))
        for reason, n in sorted(load.reject_reasons.items()):
            console.print(f"rejected {n}: {reason}")
    finally:
        engine.dispose()


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest maude` to the ingest group."""
    ingest_app.command("maude")(ingest_maude)
