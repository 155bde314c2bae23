"""Date, age and sex normalization against hand-written expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from cerflow.etl.normalize import age_in_years, parse_partial_date, sex_code
from cerflow.etl.records import PartialDate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2003", PartialDate(dt.date(2003, 1, 1), "Y")),
        ("201507", PartialDate(dt.date(2015, 7, 1), "M")),
        ("20150327", PartialDate(dt.date(2015, 3, 27), "D")),
        (" 20040102 ", PartialDate(dt.date(2004, 1, 2), "D")),
        ("03/27/2015", PartialDate(dt.date(2015, 3, 27), "D")),
        ("27-MAR-15", PartialDate(dt.date(2015, 3, 27), "D")),
        ("2015-03-27T10:00:00", PartialDate(dt.date(2015, 3, 27), "D")),
        ("", None),
        (None, None),
    ],
)
def test_parse_partial_date(text: str | None, expected: PartialDate | None) -> None:
    assert parse_partial_date(text) == expected


@pytest.mark.parametrize("text", ["201513", "20150230", "20151", "0000", "2015x", "13/45/2015"])
def test_parse_partial_date_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_date(text)


@pytest.mark.parametrize(
    ("value", "unit", "years"),
    [
        ("55", "YR", 55.0),
        ("6", "DEC", 60.0),
        ("18", "MON", 1.5),
        ("26", "WK", round(26 * 7 / 365.25, 3)),
        ("100", "DY", round(100 / 365.25, 3)),
        ("48", "HR", round(48 / 8766, 3)),
        ("40", "801", 40.0),
        ("40", None, 40.0),
        ("", "YR", None),
        ("abc", "YR", None),
        ("200", "YR", None),
        ("-1", "YR", None),
        ("5", "FORTNIGHT", None),
    ],
)
def test_age_in_years(value: str, unit: str | None, years: float | None) -> None:
    assert age_in_years(value, unit) == years


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("F", "F"),
        ("M", "M"),
        ("1", "M"),
        ("2", "F"),
        (2, "F"),
        ("UNK", None),
        ("NS", None),
        ("", None),
        (None, None),
        ("female", "F"),
    ],
)
def test_sex_code(value: str | int | None, code: str | None) -> None:
    assert sex_code(value) == code
