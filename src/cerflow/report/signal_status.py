"""Signal status (new / ongoing / closed) against the previous report of the same product.

    previous = read_previous(Path("reports/atorvastatin/facts.json"))
    facts = apply_previous(facts, previous)

ICH E2C(R2) sections 15 and 16 tabulate each signal with the date it was first detected
and whether it is new in the reporting interval, ongoing or closed. The previous report is
read from its ``facts.json`` (``cerflow report --previous``); a later report-versions
feature may pass the stored facts instead. Only a few fields are read, leniently, so a
facts.json written by an earlier cerflow version still works.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cerflow.errors import CerflowError
from cerflow.narrative.facts import Facts, SignalFacts


class PreviousReportError(CerflowError, ValueError):
    """The previous report's facts.json cannot be used (what, where, how to fix)."""

    status_code = 422


@dataclass(frozen=True)
class PreviousSignals:
    report_id: str
    product: str  # display name of the product, to refuse another product's report
    first_detected: dict[str, dt.date | None]  # SDR event -> first-detected date
    rows: dict[str, dict[str, Any]]  # SDR event -> its facts row (for closed signals)


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_previous(data: Any, *, where: str = "previous facts") -> PreviousSignals:
    """The SDRs of a previous report, from its facts.json content (a parsed dict)."""
    if not isinstance(data, dict) or "meta" not in data or "product" not in data:
        raise PreviousReportError(
            f"{where}: not a cerflow facts.json (no 'meta'/'product'); pass the facts.json "
            "written beside the earlier report"
        )
    meta, product = data.get("meta") or {}, data.get("product") or {}
    signals = data.get("signals") or {}
    rows = signals.get("signals") if isinstance(signals, dict) else None
    if not isinstance(rows, list):
        rows = []
    cutoff = _date(meta.get("data_cutoff"))
    first: dict[str, dt.date | None] = {}
    by_event: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("event"), str):
            raise PreviousReportError(f"{where}: signals.signals holds an entry without an event")
        first[row["event"]] = _date(row.get("first_detected")) or cutoff
        by_event[row["event"]] = row
    return PreviousSignals(
        report_id=str(meta.get("report_id") or "unknown"),
        product=str(product.get("display_name") or ""),
        first_detected=first,
        rows=by_event,
    )


def read_previous(path: Path) -> PreviousSignals:
    """Read a previous report's facts.json; a clear error when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PreviousReportError(
            f"--previous {path}: cannot be read ({exc.strerror or exc}); pass the facts.json "
            "of the earlier report of the same product"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreviousReportError(
            f"--previous {path}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    return parse_previous(data, where=f"--previous {path}")


def _closed_row(row: dict[str, Any], event: str, first: dt.date | None) -> SignalFacts:
    known = {k: v for k, v in row.items() if k in SignalFacts.model_fields}
    base: dict[str, Any] = {
        "event": event,
        **{k: 0 for k in ("a", "b", "c", "d")},
        "expected": 0.0,
        **{
            k: None
            for k in SignalFacts.model_fields
            if k not in ("event", "a", "b", "c", "d", "expected")
            and SignalFacts.model_fields[k].is_required()
        },
    }
    try:
        out = SignalFacts.model_validate({**base, **known})
    except ValueError:
        out = SignalFacts.model_validate(base)
    out.status, out.first_detected = "closed", first
    return out


def apply_previous(facts: Facts, previous: PreviousSignals | None) -> Facts:
    """A copy of ``facts`` whose SDRs carry their status and first-detected date against
    ``previous``, with the previous SDRs that are no longer SDRs listed as closed."""
    s = facts.signals
    if previous is None or s is None or s.sdr is None:
        return facts
    if previous.product and previous.product.lower() != facts.product.display_name.lower():
        raise PreviousReportError(
            f"--previous is a report of {previous.product!r}, not of "
            f"{facts.product.display_name!r}: pass the earlier report of the same product"
        )
    # Imported here: cerflow.analysis loads scipy, which the CLI must not load at start-up.
    from cerflow.analysis.sdr import signal_status

    out = facts.model_copy(deep=True)
    sig = out.signals
    assert sig is not None and sig.sdr is not None
    status = signal_status(
        [x.event for x in sig.signals],
        previous.first_detected,
        detected_on=facts.meta.data_cutoff,
    )
    by_event = {x.event: x for x in sig.signals}
    closed: list[SignalFacts] = []
    for row in status:
        if row.status == "closed":
            closed.append(_closed_row(previous.rows[row.event], row.event, row.first_detected))
            continue
        item = by_event[row.event]
        item.status, item.first_detected = row.status, row.first_detected
    sig.sdr.closed = closed
    sig.sdr.previous_report = previous.report_id
    sig.sdr.n_closed = len(closed)
    sig.sdr.n_new = sum(1 for x in sig.signals if x.status == "new")
    sig.sdr.n_ongoing = sum(1 for x in sig.signals if x.status == "ongoing")
    return out


def previous_signals_of(facts: Mapping[str, Any], *, where: str) -> PreviousSignals | None:
    """The SDRs of a stored earlier version, or None when its facts predate SDRs (an old
    version still gets its changes chapter; its signals just have no status to carry)."""
    try:
        return parse_previous(dict(facts), where=where)
    except PreviousReportError:
        return None
