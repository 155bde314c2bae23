"""One datetime type for every API schema: always carries a time zone.

Every stored time is UTC, but SQLite has no time-zone type and hands back naive values
while PostgreSQL returns aware ones; without this the same response would be
`2026-01-01T00:00:00` on one store and `...+00:00` on the other, and the naive form is
not an RFC 3339 `date-time` as the OpenAPI schema promises. Naive inputs are read as UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator


def as_utc(value: dt.datetime) -> dt.datetime:
    """Attach UTC to a naive datetime (the stores' convention); aware values pass unchanged."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]
