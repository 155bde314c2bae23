"""PRISMA 2020 flow counts of one search, computed from its records and screening log.

Pure (no I/O): the caller passes the search's records and every screening decision row of
them; the same rows give the same counts, so the report's diagram, its text and the
screening log cannot disagree.

Semantics shared with the screening step (`literature.screening`):
- decisions are append-only rows; the current decision of (record, stage) is the newest
  row (largest id); stages are ``title_abstract`` then ``full_text``;
- only unique records (``duplicate_of_id`` is None) are screened;
- a record is INCLUDED iff its current full-text decision is ``include``.

Each unique record sits in exactly one box, so the boxes add up (PRISMA 2020, Page et al.
BMJ 2021;372:n71):

    unique = awaiting title/abstract screening + screened
    screened = excluded at title/abstract + sought for full text
    sought = awaiting full-text decision + full text assessed
    assessed = excluded at full text + included

A record with a full-text decision counts as having passed title/abstract screening even
when its current title/abstract decision is ``exclude`` (a decision changed afterwards);
such records are counted in ``inconsistent`` so the report can say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

STAGES = ("title_abstract", "full_text")


class RecordRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def database(self) -> str: ...
    @property
    def duplicate_of_id(self) -> int | None: ...


class DecisionRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def record_id(self) -> int: ...
    @property
    def stage(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def reason_code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Current:
    """The current decision of one record at one stage."""

    decision: str
    reason_code: str | None


@dataclass(slots=True)
class PrismaCounts:
    identified_by_database: dict[str, int]
    identified: int
    duplicates_removed: int
    unique: int
    awaiting_screening: int = 0
    screened: int = 0
    excluded_title_abstract: int = 0
    excluded_title_abstract_reasons: dict[str, int] = field(default_factory=dict)
    sought_full_text: int = 0
    awaiting_full_text: int = 0
    full_text_assessed: int = 0
    excluded_full_text: int = 0
    excluded_full_text_reasons: dict[str, int] = field(default_factory=dict)
    included: int = 0
    included_ids: list[int] = field(default_factory=list)
    inconsistent: int = 0


def current_decisions(decisions: Iterable[DecisionRow]) -> dict[tuple[int, str], Current]:
    """(record id, stage) -> the newest decision (largest row id)."""
    newest: dict[tuple[int, str], tuple[int, Current]] = {}
    for d in decisions:
        key = (d.record_id, d.stage)
        if key not in newest or d.id > newest[key][0]:
            newest[key] = (d.id, Current(d.decision, d.reason_code))
    return {k: v for k, (_, v) in newest.items()}


def included_ids(decisions: Iterable[DecisionRow]) -> set[int]:
    """Records whose current full-text decision is include."""
    return {
        rid
        for (rid, stage), cur in current_decisions(decisions).items()
        if stage == "full_text" and cur.decision == "include"
    }


def _reason(code: str | None) -> str:
    return code or "NO_REASON"


def prisma_counts(
    records: Iterable[RecordRow],
    decisions: Iterable[DecisionRow],
    *,
    database_order: Iterable[str] = (),
) -> PrismaCounts:
    """The PRISMA 2020 counts of one search (see the module docstring for the rules).

    Decisions on records that are duplicates or not among `records` are ignored.
    Exclusions without a reason code are counted under ``NO_REASON``.
    """
    rows = list(records)
    by_db: Counter[str] = Counter(r.database for r in rows)
    order = [d for d in database_order if d in by_db] + sorted(
        d for d in by_db if d not in set(database_order)
    )
    unique_ids = [r.id for r in rows if r.duplicate_of_id is None]
    unique_set = set(unique_ids)
    current: Mapping[tuple[int, str], Current] = {
        k: v for k, v in current_decisions(decisions).items() if k[0] in unique_set
    }
    out = PrismaCounts(
        identified_by_database={d: by_db[d] for d in order},
        identified=len(rows),
        duplicates_removed=len(rows) - len(unique_ids),
        unique=len(unique_ids),
    )
    ta_reasons: Counter[str] = Counter()
    ft_reasons: Counter[str] = Counter()
    for rid in unique_ids:
        ta = current.get((rid, "title_abstract"))
        ft = current.get((rid, "full_text"))
        if ft is not None:
            out.screened += 1
            out.sought_full_text += 1
            out.full_text_assessed += 1
            if ta is None or ta.decision != "include":
                out.inconsistent += 1
            if ft.decision == "include":
                out.included += 1
                out.included_ids.append(rid)
            else:
                out.excluded_full_text += 1
                ft_reasons[_reason(ft.reason_code)] += 1
        elif ta is None:
            out.awaiting_screening += 1
        elif ta.decision == "exclude":
            out.screened += 1
            out.excluded_title_abstract += 1
            ta_reasons[_reason(ta.reason_code)] += 1
        else:
            out.screened += 1
            out.sought_full_text += 1
            out.awaiting_full_text += 1
    out.excluded_title_abstract_reasons = dict(sorted(ta_reasons.items()))
    out.excluded_full_text_reasons = dict(sorted(ft_reasons.items()))
    return out
