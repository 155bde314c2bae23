"""Issue 13: a safety physician's review decision appears in the next report's signal
table (the newest decision per event counts), and the text stays traceable to facts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cerflow.narrative.facts import allowed_numbers, numbers_in_text
from cerflow.narrative.render import write_narrative
from cerflow.report.facts_builder import build_facts
from cerflow.report.signal_reviews import review_keys
from cerflow.store.models import SignalReview
from tests.report import store_factory as sf
from tests.report.test_sdr_facts import LOOSE


def _review(engine: Engine, event: str, decision: str, reason: str, at: dt.datetime) -> None:
    with Session(engine) as s:
        s.add(
            SignalReview(
                product_kind="drug",
                product_ref=review_keys("atorvastatin", None)[0][1],
                event=event,
                event_key=" ".join(event.split()).casefold(),
                decision=decision,
                reason=reason,
                user_id=None,
                user_email="physician@example.org",
                created_at=at,
            )
        )
        s.commit()


def test_newest_review_is_in_the_signal_table(sqlite_engine: Engine) -> None:
    sf.fill(sqlite_engine)
    before = build_facts(sqlite_engine, drug="atorvastatin", settings=LOOSE)
    assert before.signals is not None and before.signals.signals, "the fixture has SDRs"
    target = before.signals.signals[0]
    assert target.review is None
    t0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    _review(sqlite_engine, target.event, "needs_review", "first look, cases pending", t0)
    _review(
        sqlite_engine,
        "  " + target.event.upper() + " ",  # the same event, written differently
        "refuted",
        "confounded by indication in every case",
        t0 + dt.timedelta(days=2),
    )
    after = build_facts(sqlite_engine, drug="atorvastatin", settings=LOOSE)
    assert after.signals is not None
    sig = next(s for s in after.signals.signals if s.event == target.event)
    assert (sig.review, sig.review_reason, sig.review_by, sig.review_at) == (
        "refuted",
        "confounded by indication in every case",
        "physician@example.org",
        dt.date(2026, 3, 3),
    )
    others = [s for s in after.signals.signals if s.event != target.event]
    assert all(s.review is None for s in others)
    narrative = write_narrative(after)
    texts = narrative.all_texts()
    rows = [
        row
        for section in narrative.sections
        for block in section.blocks
        if block.table is not None
        for row in block.table.rows
        if row and row[0] == sig.event and len(row) == 6  # the ICH E2C(R2) signal table
    ]
    assert rows, "the signal is not in the signal table"
    assert rows[0][-1] == (
        "refuted (physician@example.org, 2026-03-03): confounded by indication in every case"
    )
    allowed = allowed_numbers(after)
    assert [n for t in texts for n in numbers_in_text(t) if n not in allowed] == []
