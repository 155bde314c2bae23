"""What every command shares: the progress bar, the error line and the import summaries.

Commands are thin: they parse options, call `ingest/`, `report/`, `jobs/`... and print. The
work below them reports progress through a plain callback and fails with a `CerflowError`
whose message is meant for people; this module turns the first into a rich bar and the
second into one red `error:` line and an exit code, the same way for every command.

Every import ends with the loader's `LoadStats`; the summaries show those figures under the
same names and in the same order, so they are spelled once here and a new loader figure
reaches every command's summary together. Two layouts exist: one row per dataset or file
(openFDA, FAERS, the sample) and one row per figure for an import of a single source
(EUDAMED, MAUDE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cerflow.etl.load_common import LoadStats
from cerflow.ingest import ProgressCallback

# The review window options, spelled once for every command that takes a date range.
SinceOption = Annotated[
    dt.datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="First received date (YYYY-MM-DD)."),
]
UntilOption = Annotated[
    dt.datetime | None,
    typer.Option("--until", formats=["%Y-%m-%d"], help="Last received date (YYYY-MM-DD)."),
]

__all__ = [
    "LOAD_FIGURES",
    "err",
    "fail",
    "figures_table",
    "load_figures",
    "out",
    "progress_bar",
    "rows_table",
]

err = Console(stderr=True, soft_wrap=True)  # error paths stay copyable
# Summaries go to stdout; made per call so a test runner's replaced stdout is the one used.


def out() -> Console:
    """A console on the current stdout, for results (tables, file lists)."""
    return Console()


def fail(error: Exception | str, code: int = 1) -> typer.Exit:
    """Print `error: <message>` in red on stderr and return the Exit to raise.

    `raise fail(exc) from None`: a CerflowError's (or a bad-input ValueError's) message is
    written for people, so no traceback follows it. Exit code 1 is a failure of the work, 2
    bad input (the Click convention).
    """
    err.print(f"[red]error:[/red] {error}")
    return typer.Exit(code)


def one_product(drug: str | None, device_codes: list[str] | None) -> list[str]:
    """The device codes, after checking that exactly one of --drug and --device-code came."""
    codes = device_codes or []
    if bool(drug) == bool(codes):
        raise fail("give exactly one of --drug NAME or --device-code CODE", 2)
    return codes


def review_window(
    since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.date | None, dt.date | None]:
    """--since/--until as dates, refused when the window is empty."""
    since_d = since.date() if since else None
    until_d = until.date() if until else None
    if since_d and until_d and since_d > until_d:
        raise fail(f"--since {since_d} is after --until {until_d}", 2)
    return since_d, until_d


@contextmanager
def progress_bar(*, spinner: bool = False) -> Iterator[ProgressCallback]:
    """A rich progress display on stderr, as a `ProgressCallback`: one bar per step name,
    its size taken from the first call that knows it. Stopped when the block ends, also on
    an error, so the error line prints below it."""
    columns = (
        (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        if spinner
        else (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
    )
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, tuple[TaskID, int | None]] = {}

        def advance(step: str, n: int, total: int | None) -> None:
            known = tasks.get(step)
            if known is None:
                known = tasks[step] = (bar.add_task(step, total=total), total)
            elif total is not None and known[1] != total:
                bar.update(known[0], total=total)
                known = tasks[step] = (known[0], total)
            if n:
                bar.advance(known[0], n)

        yield advance


# The loader's figures, in the order every summary shows them.
LOAD_FIGURES = ("read", "inserted", "updated", "unchanged", "rejected")


def load_figures(load: LoadStats) -> list[tuple[str, int]]:
    """The loader's figures as (label, value) pairs, in `LOAD_FIGURES` order."""
    return [
        ("read", load.read),
        ("inserted", load.inserted),
        ("updated", load.updated),
        ("unchanged", load.unchanged),
        ("rejected", load.rejected),
    ]


def rows_table(
    title: str,
    key: str,
    columns: Sequence[str],
    rows: Iterable[tuple[str, Sequence[object], LoadStats]],
) -> Table:
    """One row per dataset or file: its name under `key` (left-aligned), the source's own
    figures under `columns`, then the loader's figures (all right-aligned, they are counts).
    """
    table = Table(title=title)
    table.add_column(key)
    for column in (*columns, *LOAD_FIGURES):
        table.add_column(column, justify="right")
    for name, cells, load in rows:
        table.add_row(name, *(str(c) for c in cells), *(str(v) for _, v in load_figures(load)))
    return table


def figures_table(
    title: str,
    label: str,
    figures: Iterable[tuple[str, object]],
    *,
    caption: str | None = None,
) -> Table:
    """One row per figure, (name, count), for an import of one source; `label` heads the
    names column and `caption` goes under the table (e.g. the snapshot id)."""
    table = Table(title=title, caption=caption)
    table.add_column(label)
    table.add_column("count", justify="right")
    for name, value in figures:
        table.add_row(name, str(value))
    return table
