"""Changes between two report versions: the pure comparison and its chapter's text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cerflow.narrative.changes import VersionSnapshot, changes_for_new_version, compare
from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.render import write_narrative


def _signal(event: str, a: int) -> dict[str, Any]:
    return {"event": event, "a": a}


def _snap(number: int, facts: dict[str, Any], texts: dict[str, str], **kw: Any) -> VersionSnapshot:
    return VersionSnapshot(
        number=number,
        report_id=f"r{number}",
        facts=facts,
        narrative={
            k: {"title": f"{i + 1} {k}", "text": v} for i, (k, v) in enumerate(texts.items())
        },
        facts_sha256=f"{number:064d}",
        generated_at=dt.datetime(2026, 1, number, tzinfo=dt.UTC),
        generated_by="cli:test",
        **kw,
    )


def test_planted_new_and_closed_signals_counts_text_and_inputs() -> None:
    before = _snap(
        1,
        {
            "volumes": {"total_reports": 100, "serious": 40, "deaths": 2},
            "recalls": {"total": 1, "class_i": 0, "class_ii": 1, "class_iii": 0},
            "signals": {
                "pairs_tested": 50,
                "signals": [_signal("Rhabdomyolysis", 5), _signal("Myalgia", 4)],
            },
            "inputs": {"intended_purpose": "lower LDL", "claims": "none"},
            "writer_inputs": ["a", "b"],
        },
        {"summary": "old summary", "scope": "same", "changes": "x"},
        state="approved",
        approved_by="ap@example.org",
        approved_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    )
    after = _snap(
        2,
        {
            "volumes": {"total_reports": 120, "serious": 40, "deaths": 3},
            "recalls": {"total": 1, "class_i": 0, "class_ii": 1, "class_iii": 0},
            "signals": {
                "pairs_tested": 50,
                "signals": [_signal("RHABDOMYOLYSIS", 7), _signal("Hepatitis", 3)],
            },
            "inputs": {"intended_purpose": "lower LDL-C", "claims": "none"},
            "writer_inputs": ["a", "b"],
        },
        {"summary": "new summary", "scope": "same", "changes-signals": "y", "methods": "added"},
    )
    ch = compare(before, after)
    assert ch.previous_version == 1 and ch.previous_state == "approved"
    assert ch.new_signals == ["Hepatitis"]
    assert ch.closed_signals == ["Myalgia"]  # "RHABDOMYOLYSIS" is the same event term
    counts = {c.label: (c.before, c.after) for c in ch.changed_counts}
    assert counts == {
        "Reports of the product": (100, 120),
        "Reports with death": (2, 3),
        "Reports with RHABDOMYOLYSIS": (5, 7),
    }
    # A changed, an added section; the changes chapter itself never counts.
    assert ch.changed_text == ["1 summary", "4 methods"]
    assert ch.changed_inputs == ["inputs.intended_purpose"]
    assert [h.version for h in ch.history] == [1]
    assert ch.history[0].approved_by == "ap@example.org"


def test_identical_versions_have_no_changes() -> None:
    facts = {"volumes": {"total_reports": 5}, "signals": {"signals": [_signal("X", 3)]}}
    ch = compare(_snap(1, facts, {"a": "t"}), _snap(2, facts, {"a": "t"}))
    assert (ch.new_signals, ch.closed_signals, ch.changed_counts, ch.changed_text) == (
        [],
        [],
        [],
        [],
    )


def test_changes_chapter_is_written_and_every_number_traces(drug_facts: Facts) -> None:
    current = drug_facts.model_copy(
        update={"meta": drug_facts.meta.model_copy(update={"version": 2})}
    )
    prev_facts = drug_facts.model_dump(mode="json")
    signals = prev_facts["signals"]["signals"] if prev_facts.get("signals") else []
    planted_new = signals[0]["event"] if signals else None
    # Version 1 lacked the first signal (so it is new now) and had one that has closed.
    kept = signals[1:]
    prev_facts["signals"] = {
        **(prev_facts.get("signals") or {}),
        "signals": [*kept, {"event": "Planted closed event", "a": 9}],
    }
    prev_facts["volumes"]["total_reports"] = drug_facts.volumes.total_reports - 1
    narrative = write_narrative(current)
    previous = VersionSnapshot(
        number=1,
        report_id="CER-PREV",
        facts=prev_facts,
        narrative={},
        facts_sha256="a" * 64,
        generated_at=dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC),
        generated_by="cli:test",
    )
    changes = changes_for_new_version(previous, current, narrative)
    facts = current.model_copy(update={"changes": changes})
    narrative = write_narrative(facts)
    ids = [s.id for s in narrative.sections]
    assert ids[-5:] == [
        "changes",
        "changes-signals",
        "changes-counts",
        "changes-text",
        "changes-history",
    ]
    text = "\n".join(t for s in narrative.sections if s.id.startswith("changes") for t in s.texts())
    assert "Planted closed event" in text
    if planted_new:
        assert f"New signals since version 1: {planted_new}" in text
    assert "Reports of the product" in text
    allowed = allowed_numbers(facts)
    assert [n for t in narrative.all_texts() for n in numbers_in_text(t) if n not in allowed] == []
    # Facts without changes (a first version) have no such chapter.
    assert not any(s.id.startswith("changes") for s in write_narrative(current).sections)


def test_cer_inputs_are_compared_field_by_field() -> None:
    before = _snap(1, {"cer": {"inputs": {"intended_purpose": "a", "claims": ["x"]}}}, {})
    after = _snap(2, {"cer": {"inputs": {"intended_purpose": "b", "claims": ["x"]}}}, {})
    assert compare(before, after).changed_inputs == ["inputs.intended_purpose"]
