"""Reading a job's parameters: a bad value fails the job at once with a message saying
which parameter and what it should be (retrying would not fix it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cerflow.jobs.errors import PermanentJobError


def product(params: dict[str, Any]) -> tuple[str, str]:
    """(product_kind, product_ref) of a product-scoped job."""
    kind = params.get("product_kind")
    ref = params.get("product_ref")
    if kind not in ("drug", "device") or not isinstance(ref, str) or not ref.strip():
        raise PermanentJobError(
            "job parameters need product_kind ('drug' or 'device') and a product_ref; "
            f"got product_kind={kind!r}, product_ref={ref!r}"
        )
    return kind, ref.strip()


def date(params: dict[str, Any], name: str) -> dt.date | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PermanentJobError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
