"""`cerflow ingest sample [--dir PATH]`: the bundled synthetic dataset into the store.

Offline and self-contained (the data ship inside the package), so a fresh clone can build a
report without network. Everything it stores is marked generated; the summary says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cerflow.commands._summary import LOAD_FIGURES
from cerflow.db import make_engine
from cerflow.sample.ingest import SampleIntegrityError, ingest_sample
from cerflow.sources.base import SourceFormatError
from cerflow.store import migrate

console = Console(stderr=True, soft_wrap=True)  # error paths stay copyable


def _summary(result: dict[str, Any]) -> Table:
    table = Table(title=f"Sample import - {result['statement']}")
    table.add_column("file")
    for column in LOAD_FIGURES:
        table.add_column(column, justify="right")
    steps = [*result["faers"], {**result["maude"], "file": "maude/ (bulk files)"}]
    steps += [*result["recalls"], *result["eudamed"]]
    for step in steps:
        table.add_row(step["file"], *(str(step[k]) for k in LOAD_FIGURES))
    table.add_row("total", *(str(result["totals"][k]) for k in LOAD_FIGURES))
    return table


def ingest_sample_command(
    sample_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="A sample folder with manifest.json (default: the one bundled with cerflow).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Import the bundled SYNTHETIC sample (FAERS, MAUDE, recalls, EUDAMED); no network."""
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            tasks: dict[str, Any] = {}

            def advance(step: str, n: int) -> None:
                if step not in tasks:
                    tasks[step] = progress.add_task(step, total=None)
                progress.advance(tasks[step], n)

            try:
                result = ingest_sample(engine, progress=advance, sample_dir=sample_dir)
            except (SampleIntegrityError, FileNotFoundError) as exc:
                progress.stop()
                console.print(f"[red]error:[/red] {exc}\nNothing was imported.")
                raise typer.Exit(1) from None
            except SourceFormatError as exc:
                progress.stop()
                console.print(
                    f"[red]error:[/red] {exc}\nThe file being imported when this happened was "
                    "not stored; files imported before it stay imported."
                )
                raise typer.Exit(1) from None
        Console().print(_summary(result))
        console.print(f"[bold yellow]{result['statement']}[/bold yellow]")
    finally:
        engine.dispose()


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest sample` to the ingest group."""
    ingest_app.command("sample")(ingest_sample_command)
