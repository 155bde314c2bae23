"""Normalization rules for source values: dates, ages, sex.

The product and term keys (`drug_key`, `device_code`, `term_key`) are the store's
(`cerflow.store.keys`): the ETL writes them and every reader looks rows up by them.
"""

from __future__ import annotations

import datetime as dt

from cerflow.etl.records import PartialDate

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}


def parse_partial_date(value: str | None) -> PartialDate | None:
    """Parse YYYY, YYYYMM, YYYYMMDD (FAERS/openFDA), MM/DD/YYYY (MAUDE), DD-MON-YY, ISO.

    Keeps the precision so a month bucket is never invented from a year-only date.
    Returns None for empty values; raises ValueError for malformed ones.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        if len(text) == 4:
            return PartialDate(dt.date(int(text), 1, 1), "Y")
        if len(text) == 6:
            return PartialDate(dt.date(int(text[:4]), int(text[4:6]), 1), "M")
        if len(text) == 8:
            return PartialDate(dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])), "D")
        raise ValueError(f"unrecognized date {value!r}")
    if "/" in text:  # MM/DD/YYYY
        month, day, year = text.split("/")
        return PartialDate(dt.date(int(year), int(month), int(day)), "D")
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":  # ISO date or datetime
        return PartialDate(dt.date.fromisoformat(text[:10]), "D")
    if "-" in text:  # DD-MON-YY or DD-MON-YYYY
        day, mon, year = text.split("-")
        y = int(year)
        if len(year) == 2:
            y += 2000 if y < 70 else 1900
        return PartialDate(dt.date(y, _MONTHS[mon[:3].upper()], int(day)), "D")
    raise ValueError(f"unrecognized date {value!r}")


# FAERS/openFDA age units. openFDA patientonsetageunit: 800 decade, 801 year, 802 month,
# 803 week, 804 day, 805 hour. FAERS ASCII age_cod: DEC YR MON WK DY HR.
_AGE_FACTORS = {
    "800": 10.0,
    "DEC": 10.0,
    "801": 1.0,
    "YR": 1.0,
    "YRS": 1.0,
    "802": 1 / 12,
    "MON": 1 / 12,
    "803": 7 / 365.25,
    "WK": 7 / 365.25,
    "804": 1 / 365.25,
    "DY": 1 / 365.25,
    "805": 1 / 8766,
    "HR": 1 / 8766,
}


def age_in_years(value: str | float | None, unit: str | None) -> float | None:
    """Convert an age with its unit to years; None if missing or implausible (>130 y)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    factor = _AGE_FACTORS.get((unit or "YR").strip().upper())
    if factor is None:
        return None
    years = number * factor
    if years < 0 or years > 130:
        return None
    return round(years, 3)


def sex_code(value: str | int | None) -> str | None:
    """openFDA patientsex 1=male 2=female 0=unknown; FAERS sex M/F/UNK; MAUDE Male/Female."""
    if value is None:
        return None
    text = str(value).strip().upper()
    if text in {"1", "M", "MALE"}:
        return "M"
    if text in {"2", "F", "FEMALE"}:
        return "F"
    return None
