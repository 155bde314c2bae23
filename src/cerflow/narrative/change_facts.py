"""`ChangesFacts`: what changed between two versions of a product's report.

Part of `Facts` (its `changes` field, serialized in `facts.json`) and also the API's
version diff. Kept apart from `facts.py` so that the API, which compares versions but
never builds a report, does not build the ~50 models of the whole `Facts` at start-up
(~40 ms); `facts.py` imports it, so `Facts` and `facts.json` are unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as every model in facts.py


class CountChange(_Model):
    """One number that differs between two versions (label names the quantity)."""

    label: str
    before: int | float | None
    after: int | float | None


class VersionHistoryEntry(_Model):
    """One earlier version of the product's report, as recorded when it was generated."""

    version: int
    report_id: str
    generated_at: dt.datetime
    generated_by: str
    state: Literal["draft", "approved"]
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    facts_sha256: str


class ChangesFacts(_Model):
    """What changed since the previous version of the same product's report."""

    previous_version: int
    previous_report_id: str
    previous_facts_sha256: str
    previous_state: Literal["draft", "approved"]
    new_signals: list[str] = Field(default_factory=list)
    closed_signals: list[str] = Field(default_factory=list)
    changed_counts: list[CountChange] = Field(default_factory=list)
    changed_text: list[str] = Field(default_factory=list)  # "4.2 Title" of changed sections
    changed_inputs: list[str] = Field(default_factory=list)
    history: list[VersionHistoryEntry] = Field(default_factory=list)  # oldest first
