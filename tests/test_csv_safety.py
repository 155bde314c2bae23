"""CSV injection: text cells a spreadsheet would run as formulas get a leading `'`."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest

from cerflow.csv_safety import neutralize_cell, safe_csv


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_formula_cells_are_prefixed(value: str) -> None:
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["nausea", "", "1=1", "a-b", "' already"])
def test_plain_cells_are_unchanged(value: str) -> None:
    assert neutralize_cell(value) == value


def test_safe_csv_neutralizes_strings_and_keeps_numbers() -> None:
    frame = pl.DataFrame(
        {
            "event": ['=HYPERLINK("http://evil.example","x")', "nausea", None],
            "score": [-1.5, 2.0, 0.0],
            "a": [-3, 1, 0],
        }
    )
    rows = list(csv.DictReader(io.StringIO(safe_csv(frame))))
    assert [r["event"] for r in rows] == ['\'=HYPERLINK("http://evil.example","x")', "nausea", ""]
    assert [r["score"] for r in rows] == ["-1.5", "2.0", "0.0"]
    assert [r["a"] for r in rows] == ["-3", "1", "0"]
