"""The date of the next update and its rule (MEDDEV 2.7/1 rev 4, 6.2.3), by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from cerflow.cer_inputs.next_update import add_months, next_update
from cerflow.cer_inputs.schemas import parse_inputs

DAY = dt.date(2026, 12, 5)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2025, 1, 31), 1, dt.date(2025, 2, 28)),
        (dt.date(2025, 11, 15), 14, dt.date(2027, 1, 15)),
        (dt.date(2026, 12, 5), 12, dt.date(2027, 12, 5)),
        (dt.date(2026, 12, 31), 60, dt.date(2031, 12, 31)),
    ],
)
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def _plan(**plan: object) -> object:
    return parse_inputs({"schema_version": 1, "next_update": plan})


def test_high_risk_is_annual_whatever_the_setting() -> None:
    for plan in (
        {"device_class": "III"},
        {"implantable": True},
        {"significant_risk": True},
        {"well_established": False},
    ):
        got = next_update(_plan(**plan), report_date=DAY, default_months=36)  # type: ignore[arg-type]
        assert (got.date, got.interval_months) == (dt.date(2027, 12, 5), 12), plan
        assert "at least annually" in got.rule and "6.2.3" in got.rule


def test_without_inputs_the_setting_decides_and_says_so() -> None:
    got = next_update(None, report_date=DAY, default_months=24)
    assert (got.date, got.interval_months, got.from_date) == (dt.date(2028, 12, 5), 24, DAY)
    assert got.rule.startswith("the inputs state neither the risk class")


def test_low_risk_well_established_uses_the_setting() -> None:
    inputs = _plan(device_class="I", significant_risk=False, well_established=True)
    got = next_update(inputs, report_date=DAY, default_months=12)  # type: ignore[arg-type]
    assert got.date == dt.date(2027, 12, 5)
    assert "2 to 5 years" in got.rule


def test_manufacturer_interval_or_date_wins() -> None:
    inputs = _plan(device_class="IIa", interval_months=30, justification="well established")
    got = next_update(inputs, report_date=DAY, default_months=12)  # type: ignore[arg-type]
    assert (got.date, got.interval_months) == (dt.date(2029, 6, 5), 30)
    assert got.rule.endswith(": well established")
    fixed = _plan(date="2027-03-01", justification="aligned with the PSUR cycle")
    got = next_update(fixed, report_date=DAY, default_months=12)  # type: ignore[arg-type]
    assert (got.date, got.interval_months) == (dt.date(2027, 3, 1), None)
    assert got.rule == "date set by the manufacturer: aligned with the PSUR cycle"
