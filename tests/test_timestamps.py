"""API datetimes always carry a time zone, whichever store they were read from."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from cerflow.timestamps import UtcDatetime, as_utc


class _Out(BaseModel):
    at: UtcDatetime
    maybe: UtcDatetime | None = None


def test_naive_values_are_read_as_utc() -> None:
    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert as_utc(naive) == naive.replace(tzinfo=dt.UTC)
    assert _Out(at=naive).model_dump_json() == '{"at":"2026-01-02T03:04:05Z","maybe":null}'


def test_aware_values_are_unchanged() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=paris)
    assert _Out(at=aware, maybe=aware).at.utcoffset() == dt.timedelta(hours=1)
