"""The rich summary tables the ingest commands print when an import ends.

Every import ends with the loader's `LoadStats`; the commands show those figures under the
same names and in the same order, so they are spelled once here and a new loader figure
reaches every command's summary together. Two layouts exist: one row per dataset or file
(openFDA, FAERS) and one row per figure for an import of a single source (EUDAMED, MAUDE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table

from cerflow.etl.load import LoadStats

__all__ = ["LOAD_FIGURES", "figures_table", "load_figures", "rows_table"]

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
