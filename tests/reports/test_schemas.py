"""Report requests: a reversed window is refused with the standard validation-error shape."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from cerflow.reports.schemas import ReportCreate


def test_reversed_window_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="since 2024-05-01 is after until 2024-01-01"):
        ReportCreate(product_ref="DQA", since=dt.date(2024, 5, 1), until=dt.date(2024, 1, 1))


def test_window_in_order_is_accepted() -> None:
    r = ReportCreate(product_ref="DQA", since=dt.date(2024, 1, 1), until=dt.date(2024, 5, 1))
    assert (r.since, r.until, r.formats) == (dt.date(2024, 1, 1), dt.date(2024, 5, 1), ["json"])
