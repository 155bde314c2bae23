"""The safety physician's review decisions in the signal table (issue 13).

A decision recorded on the product page (validated / refuted / needs review, with a
reason) is stored per product and event; the next report of the product shows the
newest decision on each of its signals, in the signal table's "Evaluation" column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from cerflow.narrative.facts import Facts
from cerflow.store.keys import device_code, drug_key
from cerflow.store.product_queries import latest_signal_reviews


def review_keys(drug: str | None, device_codes: Sequence[str] | None) -> list[tuple[str, str]]:
    """(kind, ref) under which the product's reviews are stored (as the pages resolve it)."""
    if drug:
        return [("drug", drug_key(drug) or drug.strip().upper())]
    return [("device", device_code(c) or c.strip().upper()) for c in device_codes or []]


def read_reviews(engine: Engine, keys: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """The newest decision per event key over the product's keys."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for kind, ref in keys:
            for key, row in latest_signal_reviews(conn, kind, ref).items():  # type: ignore[arg-type]
                if key not in out or row["created_at"] > out[key]["created_at"]:
                    out[key] = row
    return out


def apply_reviews(facts: Facts, reviews: Mapping[str, Mapping[str, Any]]) -> Facts:
    """A copy of `facts` whose signals carry the newest review decision on their event."""
    if not reviews or facts.signals is None:
        return facts
    out = facts.model_copy(deep=True)
    assert out.signals is not None
    for sig in out.signals.signals:
        row = reviews.get(" ".join(sig.event.split()).casefold())
        if row is None:
            continue
        sig.review = row["decision"]
        sig.review_reason = str(row["reason"])
        sig.review_by = str(row["user_email"])
        at = row["created_at"]
        sig.review_at = at.date() if hasattr(at, "date") else at
    return out
