"""What changed between two versions of a product's report: pure, from facts and texts.

    compare(before, after) -> ChangesFacts

`before` and `after` are `VersionSnapshot`s: a version's facts (the `facts.json` content
as a dict), its narrative texts per section and its recorded metadata. The report
pipeline uses this for the "Changes since the previous version" chapter of a new
version; `cerflow report diff A B` and the API use it for any two versions. No I/O.

Rules (documented in docs/versions.md):
- A *signal* is an event in `signals.signals` (flagged by at least one method). New: in
  `after` and not in `before`; closed: in `before`, not in `after` (compared on the event
  term, case-insensitive).
- *Counts*: the report volumes (reports, serious, deaths, ...), recall totals, the number
  of product-event pairs tested, and `a` (reports with the event) of every signal present
  in both versions; listed when they differ.
- *Text*: a section (by its stable id) whose template text differs, excluding this
  chapter itself (it always differs).
- *Inputs*: the writer's CER inputs (`cer.inputs`, field by field; also `inputs`/`cer_inputs`
  at the top level if present) and the `writer_inputs` placeholders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cerflow.narrative.change_facts import ChangesFacts, CountChange, VersionHistoryEntry
from cerflow.narrative.sections import Narrative

if TYPE_CHECKING:  # the API compares stored versions and never loads the whole Facts model
    from cerflow.narrative.facts import Facts

CHANGES_SECTION_ID = "changes"

VOLUME_COUNTS = (
    ("total_reports", "Reports of the product"),
    ("serious", "Serious reports"),
    ("deaths", "Reports with death"),
    ("hospitalizations", "Reports with hospitalisation"),
    ("life_threatening", "Life-threatening reports"),
    ("disability", "Reports with disability"),
    ("months_covered", "Months covered"),
)
RECALL_COUNTS = (
    ("total", "Recalls"),
    ("class_i", "Class I recalls"),
    ("class_ii", "Class II recalls"),
    ("class_iii", "Class III recalls"),
)
INPUT_KEYS = ("inputs", "cer_inputs")


@dataclass(slots=True)
class VersionSnapshot:
    """One version as the comparison needs it (built from a stored row or a new report)."""

    number: int
    report_id: str
    facts: Mapping[str, Any]
    narrative: Mapping[str, Mapping[str, str]]  # section id -> {"title", "text"}
    facts_sha256: str
    state: str = "draft"
    generated_at: dt.datetime | None = None
    generated_by: str = ""
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    history: list[VersionHistoryEntry] = field(default_factory=list)  # versions before it


def is_changes_section(section_id: str) -> bool:
    """This chapter and its subsections (they always differ between versions)."""
    return section_id == CHANGES_SECTION_ID or section_id.startswith(CHANGES_SECTION_ID + "-")


def narrative_texts(narrative: Narrative) -> dict[str, dict[str, str]]:
    """Section id -> its number + title and its whole text (what versions store)."""
    return {
        s.id: {"title": f"{s.number} {s.title}", "text": "\n".join(s.texts())}
        for s in narrative.sections
    }


def _signals(facts: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    block = facts.get("signals") or {}
    return {str(s["event"]).casefold(): s for s in block.get("signals") or []}


def _count(before: Any, after: Any, label: str, out: list[CountChange]) -> None:
    if before != after:
        out.append(CountChange(label=label, before=before, after=after))


def _counts(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[CountChange]:
    out: list[CountChange] = []
    vb, va = before.get("volumes") or {}, after.get("volumes") or {}
    for key, label in VOLUME_COUNTS:
        _count(vb.get(key), va.get(key), label, out)
    rb, ra = before.get("recalls") or {}, after.get("recalls") or {}
    for key, label in RECALL_COUNTS:
        _count(rb.get(key), ra.get(key), label, out)
    sb, sa = before.get("signals") or {}, after.get("signals") or {}
    _count(sb.get("pairs_tested"), sa.get("pairs_tested"), "Product-event pairs tested", out)
    _count(sb.get("background_reports"), sa.get("background_reports"), "Background reports", out)
    old, new = _signals(before), _signals(after)
    for key in sorted(old.keys() & new.keys()):
        _count(old[key].get("a"), new[key].get("a"), f"Reports with {new[key]['event']}", out)
    return out


def _inputs(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changed: list[str] = []
    # The validated CER inputs (issue 12 item 1) live in facts["cer"]["inputs"].
    cb = (before.get("cer") or {}).get("inputs") or {}
    ca = (after.get("cer") or {}).get("inputs") or {}
    if isinstance(cb, Mapping) and isinstance(ca, Mapping):
        changed.extend(
            f"inputs.{k}" for k in sorted(cb.keys() | ca.keys()) if cb.get(k) != ca.get(k)
        )
    for key in INPUT_KEYS:
        ib, ia = before.get(key) or {}, after.get(key) or {}
        if isinstance(ib, Mapping) and isinstance(ia, Mapping):
            changed.extend(
                f"{key}.{k}" for k in sorted(ib.keys() | ia.keys()) if ib.get(k) != ia.get(k)
            )
        elif ib != ia:
            changed.append(key)
    wb, wa = list(before.get("writer_inputs") or []), list(after.get("writer_inputs") or [])
    if wb != wa:
        changed.append("writer_inputs")
    return changed


def _texts(
    before: Mapping[str, Mapping[str, str]], after: Mapping[str, Mapping[str, str]]
) -> list[str]:
    changed = []
    for sid in [*after, *[k for k in before if k not in after]]:
        if is_changes_section(sid):
            continue
        b, a = before.get(sid), after.get(sid)
        if b is None or a is None or b.get("text") != a.get("text"):
            changed.append(str((a or b or {}).get("title", sid)))
    return changed


def history_entry(v: VersionSnapshot) -> VersionHistoryEntry:
    return VersionHistoryEntry(
        version=v.number,
        report_id=v.report_id,
        generated_at=v.generated_at or dt.datetime.now(dt.UTC),
        generated_by=v.generated_by,
        state="approved" if v.state == "approved" else "draft",
        approved_by=v.approved_by,
        approved_at=v.approved_at,
        facts_sha256=v.facts_sha256,
    )


def compare(before: VersionSnapshot, after: VersionSnapshot) -> ChangesFacts:
    """The changes from `before` to `after` (any two versions, usually consecutive)."""
    old, new = _signals(before.facts), _signals(after.facts)
    return ChangesFacts(
        previous_version=before.number,
        previous_report_id=before.report_id,
        previous_facts_sha256=before.facts_sha256,
        previous_state="approved" if before.state == "approved" else "draft",
        new_signals=[str(new[k]["event"]) for k in new if k not in old],
        closed_signals=[str(old[k]["event"]) for k in old if k not in new],
        changed_counts=_counts(before.facts, after.facts),
        changed_text=_texts(before.narrative, after.narrative),
        changed_inputs=_inputs(before.facts, after.facts),
        history=[*before.history, history_entry(before)],
    )


def changes_for_new_version(
    previous: VersionSnapshot, facts: Facts, narrative: Narrative
) -> ChangesFacts:
    """The chapter's facts for a new version, from its template narrative (before polish)."""
    current = VersionSnapshot(
        number=facts.meta.version,
        report_id=facts.meta.report_id,
        facts=facts.model_dump(mode="json"),
        narrative=narrative_texts(narrative),
        facts_sha256="",
    )
    return compare(previous, current)
