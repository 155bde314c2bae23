"""Labelled status of a CER's event terms: the stored drug label applied to `Facts`.

    facts = apply_labelling(facts, read_label(engine, data.product_keys))

After the facts are computed, every `SignalFacts` anywhere in them (the signal lists,
the top terms, peer signals, and any list added later) gets `labelled` ("labelled",
"not in label", or "no label" when no label was checked), the label section and the
matching sentence, and `lack_of_efficacy`; `Facts.labelling` names the label (set id,
version, effective date, query, retrieval time, sha256) and lists the top event terms and
the signal terms with their status. The matching rule is `cerflow.analysis.labelling`.
Devices: FDA publishes no machine-readable labelling (instructions for use) for devices,
so the report says that no labelling source is public and nothing is checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from cerflow.analysis.labelling import MATCH_RULE, SECTIONS, LabelIndex, is_lack_of_efficacy
from cerflow.narrative.facts import Facts, LabelFacts, LabelTermFacts, SignalFacts
from cerflow.report.compute import display_location

LABEL_SOURCE = "openFDA /drug/label.json"
Status = Literal["labelled", "not in label", "no label"]
DEVICE_STATEMENT = (
    "No public labelling source exists for medical devices: FDA publishes no "
    "machine-readable instructions for use, so whether a device problem is described in "
    "the labelling was not checked; the writer compares the terms with the manufacturer's "
    "instructions for use."
)


def _signal_facts(node: Any) -> Iterator[Any]:
    """Every event result inside a Facts tree that carries a labelled status: `SignalFacts`
    and any other model with `event` and `labelled` fields (fields, lists, nested models).
    """
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        if isinstance(node, SignalFacts) or ("event" in fields and "labelled" in fields):
            yield node
            return
        for name in fields:
            yield from _signal_facts(getattr(node, name))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _signal_facts(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _signal_facts(item)


def _set(model: Any, name: str, value: Any) -> None:
    if name in type(model).model_fields:
        setattr(model, name, value)


def _no_label_statement(facts: Facts) -> str:
    key = facts.product.product_keys[0] if facts.product.product_keys else facts.product.query
    return (
        f"No drug label of {key} is in the store, so the labelled status of the event terms "
        f"was not checked; import the label with `cerflow ingest label --drug "
        f"{facts.product.query}` and build the report again."
    )


def apply_labelling(facts: Facts, label: Mapping[str, Any] | None) -> Facts:
    """A copy of `facts` with the labelled status filled in (see the module docstring)."""
    out = facts.model_copy(deep=True)
    kind = out.product.kind
    index = LabelIndex(label.get("sections") or {}) if label and kind == "drug" else None
    status_cache: dict[str, tuple[Status, str | None, str | None]] = {}

    def status(term: str) -> tuple[Status, str | None, str | None]:
        if term not in status_cache:
            if index is None:
                status_cache[term] = ("no label", None, None)
            else:
                match = index.find(term)
                status_cache[term] = (
                    ("labelled", match.section, match.quote)
                    if match
                    else ("not in label", None, None)
                )
        return status_cache[term]

    signal_terms: list[str] = []
    for sig in _signal_facts(out):
        st, section, quote = status(sig.event)
        sig.labelled = st
        _set(sig, "label_section", section)
        _set(sig, "label_quote", quote)
        _set(sig, "lack_of_efficacy", is_lack_of_efficacy(sig.event))
        if sig.event not in signal_terms:
            signal_terms.append(sig.event)

    terms: list[LabelTermFacts] = []
    seen: set[str] = set()
    flagged = {s.event for s in out.signals.signals} if out.signals else set()
    for ev in out.top_events:
        st, section, quote = status(ev.label)
        terms.append(
            LabelTermFacts(
                event=ev.label,
                reports=ev.count,
                status=st,
                section=section,
                quote=quote,
                lack_of_efficacy=is_lack_of_efficacy(ev.label),
                signal=ev.label in flagged,
                top_event=True,
            )
        )
        seen.add(ev.label)
    for term in signal_terms:
        if term in seen or term not in flagged:
            continue
        st, section, quote = status(term)
        sig_a = next((s.a for s in out.signals.signals if s.event == term), 0) if out.signals else 0
        terms.append(
            LabelTermFacts(
                event=term,
                reports=sig_a,
                status=st,
                section=section,
                quote=quote,
                lack_of_efficacy=is_lack_of_efficacy(term),
                signal=True,
            )
        )
        seen.add(term)

    loe = [t for t in terms if t.lack_of_efficacy]
    if kind == "device":
        out.labelling = LabelFacts(
            kind="device",
            available=False,
            statement=DEVICE_STATEMENT,
            terms=terms,
            lack_of_efficacy=loe,
        )
        return out
    if label is None or index is None:
        out.labelling = LabelFacts(
            kind="drug",
            available=False,
            statement=_no_label_statement(out),
            match_rule=MATCH_RULE,
            terms=terms,
            lack_of_efficacy=loe,
        )
        return out
    retrieved = label.get("retrieved_at")
    effective = label.get("effective_date")
    checked = [s for s in SECTIONS if (label.get("sections") or {}).get(s)]
    version = label.get("version")
    out.labelling = LabelFacts(
        kind="drug",
        available=True,
        statement=(
            f"The event terms were checked against the FDA label {label.get('title') or ''} "
            f"(set id {label.get('set_id')}, version {version}, effective "
            f"{effective.isoformat() if isinstance(effective, dt.date) else 'date unknown'}) "
            f"from {LABEL_SOURCE}."
        ).replace("label  (", "label ("),
        source=LABEL_SOURCE,
        set_id=str(label.get("set_id")),
        label_id=label.get("label_id"),
        version=int(version) if version is not None else None,
        effective_date=effective if isinstance(effective, dt.date) else None,
        title=label.get("title"),
        query=label.get("query"),
        location=display_location(str(label["location"])) if label.get("location") else None,
        retrieved_at=retrieved if isinstance(retrieved, dt.datetime) else None,
        sha256=label.get("sha256"),
        is_generated=bool(label.get("is_generated")),
        derived_from=label.get("derived_from"),
        snapshot_id=label.get("snapshot_id"),
        sections_checked=checked,
        match_rule=MATCH_RULE,
        terms=terms,
        labelled=sum(1 for t in terms if t.status == "labelled"),
        not_in_label=sum(1 for t in terms if t.status == "not in label"),
        lack_of_efficacy=loe,
    )
    return out
