"""CSV exports that a spreadsheet cannot execute (OWASP "CSV injection").

Event, product and manufacturer names come from public reports anyone can file, so a cell
such as `=HYPERLINK("http://evil","click")` must not reach Excel or LibreOffice as a
formula. Every text cell that starts with one of = + - @ TAB CR gets a leading `'`, which
spreadsheets read as "this is text" and display without it. Numeric columns are left
alone: a negative number is data, not a formula, and stays a number for scripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """`value` with a `'` in front if a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def neutralize_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every string cell neutralized (see `neutralize_cell`); other columns kept."""
    import polars as pl

    pattern = "^[=+\\-@\\t\\r]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(pattern))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def safe_csv(frame: pl.DataFrame) -> str:
    """The CSV text of `frame` with formulas neutralized: the one way cerflow writes CSV exports."""
    return neutralize_frame(frame).write_csv()
