"""The named background of a disproportionality analysis (issue 11, item 1).

    result, notes, bg = signals_from_counts(counts, label="atorvastatin", thresholds=t)
    facts = store_background_facts(data, reports=N, product_reports=n_P)       # the store

Every PRR/ROR/IC states what it was computed against, in words a reviewer reads:
- the local store: "the local store (N = ... drug reports that name a product and an
  event; it holds FAERS quarterly extracts ...)", with `complete_extracts` True only when
  every report of the background came from whole source extracts (FAERS quarters, MAUDE
  files), not from openFDA searches that return only the products asked for;
- openFDA: "the whole FAERS database as counted by openFDA for reports received from ...
  to ..., N = ...". The counts (N, n_P, each event term's a and n_E) are fetched and
  cached in `cerflow.sources.openfda_background`, by the layer above (the report layer
  reads no source): `WholeDatabaseCounts` is the shape it hands over.

With openFDA's counts the 2x2 tables of the product are complete, so PRR, ROR and IC are
computed by the same `cerflow.analysis.disproportionality` functions on them. EBGM is not:
its empirical-Bayes prior is fitted to every product-event pair of the database, and
openFDA's counts give the margins of one product only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from cerflow.analysis.thresholds import Method, SignalThresholds
from cerflow.narrative.facts import BackgroundFacts, BackgroundQueryFacts
from cerflow.store.keys import term_key

if TYPE_CHECKING:
    from cerflow.analysis.disproportionality import SignalResult
    from cerflow.store.product_data import ProductData

BACKGROUNDS = ("store", "openfda")
OPENFDA_METHODS: tuple[Method, ...] = ("prr", "ror", "ic")
EBGM_ABSENT = (
    "EBGM is not computed against the openFDA counts: its empirical-Bayes prior is fitted "
    "to the observed and expected counts of every product-event pair of the database, and "
    "openFDA's count queries give the margins of this product only"
)
_HOLDINGS = {
    "faers_ascii": "FAERS quarterly extracts",
    "maude_bulk": "MAUDE bulk files",
}


class CountQueryLike(Protocol):
    @property
    def purpose(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def search(self) -> str: ...
    @property
    def retrieved_at(self) -> dt.datetime: ...
    @property
    def sha256(self) -> str: ...


class WholeDatabaseCounts(Protocol):
    """openFDA's counts for one drug and window (`sources.openfda_background` fills it)."""

    @property
    def since(self) -> dt.date: ...
    @property
    def until(self) -> dt.date: ...
    @property
    def n_reports(self) -> int: ...
    @property
    def product_reports(self) -> int: ...
    @property
    def pair_counts(self) -> Mapping[str, int]: ...
    @property
    def event_totals(self) -> Mapping[str, int]: ...
    @property
    def queries(self) -> Sequence[CountQueryLike]: ...
    @property
    def retrieved_at(self) -> dt.datetime | None: ...
    @property
    def notes(self) -> Sequence[str]: ...
    @property
    def from_cache(self) -> bool: ...


# (drug, since, until) -> the counts; built by `cerflow.ingest.openfda_background`.
CountsProvider = Callable[[str, dt.date, dt.date], WholeDatabaseCounts]


def check_background(value: str) -> str:
    """'store' or 'openfda' (any case); anything else is an error naming both."""
    text = value.strip().lower()
    if text not in BACKGROUNDS:
        raise ValueError(
            f"unknown disproportionality background {value!r}: choose 'store' (every report "
            "of the same kind in the local store) or 'openfda' (the whole FAERS database as "
            "counted by openFDA; drugs only)"
        )
    return text


def openfda_background_facts(counts: WholeDatabaseCounts) -> BackgroundFacts:
    """The statement and provenance of an openFDA whole-database background."""
    product_query = next((q.search for q in counts.queries if q.purpose == "product"), None)
    return BackgroundFacts(
        source="openfda",
        description=(
            "the whole FAERS database as counted by openFDA for reports received from "
            f"{counts.since.isoformat()} to {counts.until.isoformat()}, "
            f"N = {counts.n_reports:,} reports"
        ),
        reports=counts.n_reports,
        product_reports=counts.product_reports,
        window_start=counts.since,
        window_end=counts.until,
        query=product_query,
        retrieved_at=counts.retrieved_at,
        complete_extracts=False,
        ebgm_available=False,
        ebgm_absent_reason=EBGM_ABSENT,
        queries=[
            BackgroundQueryFacts(
                purpose=q.purpose, url=q.url, retrieved_at=q.retrieved_at, sha256=q.sha256
            )
            for q in counts.queries
        ],
        from_cache=counts.from_cache,
    )


def _merged(counts: WholeDatabaseCounts) -> tuple[list[str], list[int], list[int]]:
    """Event terms under the store's term key (openFDA counts "MYALGIA" and "Myalgia" apart;
    a report carries one spelling, so the counts of the spellings add up)."""
    a: dict[str, int] = {}
    n_e: dict[str, int] = {}
    for term, n in counts.pair_counts.items():
        key = term_key(term)
        if not key or n <= 0:
            continue
        a[key] = a.get(key, 0) + int(n)
        n_e[key] = n_e.get(key, 0) + max(int(counts.event_totals.get(term, n)), int(n))
    terms = sorted(a)
    return terms, [a[t] for t in terms], [n_e[t] for t in terms]


def signals_from_counts(
    counts: WholeDatabaseCounts, *, label: str, thresholds: SignalThresholds
) -> tuple[SignalResult | None, tuple[str, ...], BackgroundFacts]:
    """PRR, ROR and IC of each of the product's event terms against openFDA's counts:
    (the result or None when not estimable, the notes, the background's facts).

    Cells: a = the product-event count, b = n_P - a, c = n_E - a, d = N - n_P - n_E + a,
    computed by `disproportionality_from_counts` with the true margins. The result's
    `product` is `label`, its events the store's term keys.
    """
    # Imported here: the CLI imports this module for `check_background` at start-up.
    import polars as pl

    from cerflow.analysis.disproportionality import disproportionality_from_counts

    background = openfda_background_facts(counts)
    notes = [*counts.notes, EBGM_ABSENT]
    terms, a, n_e = _merged(counts)
    if counts.product_reports == 0 or not terms:
        notes.append(
            f"openFDA counts no report of the product with an event term received from "
            f"{counts.since.isoformat()} to {counts.until.isoformat()}: not estimable"
        )
        return None, tuple(notes), background
    table = pl.DataFrame(
        {"product": [label] * len(terms), "event": terms, "a": a},
        schema={"product": pl.Utf8, "event": pl.Utf8, "a": pl.Int64},
    )
    try:
        result = disproportionality_from_counts(
            table,
            product_totals=pl.DataFrame({"product": [label], "n": [counts.product_reports]}),
            event_totals=pl.DataFrame({"event": terms, "n": n_e}),
            n_reports=counts.n_reports,
            methods=OPENFDA_METHODS,
            thresholds=thresholds,
        )
    except (ValueError, ArithmeticError) as exc:  # inconsistent counts: say so, do not guess
        notes.append(f"disproportionality against the openFDA counts not estimable: {exc}")
        return None, tuple(notes), background
    return result, tuple(notes), background


def _holdings(data: ProductData) -> tuple[str, bool]:
    """What the store's background is made of, in words, and whether all of it comes from
    complete source extracts."""
    used = [s for s in data.snapshots if data.in_store.get(int(s["id"]), 0) > 0]
    words: list[str] = []
    complete = bool(used)
    for s in used:
        source = str(s["source"])
        if source in _HOLDINGS:
            text = _HOLDINGS[source]
        elif source.startswith("openfda:"):
            text = "openFDA search results (only the reports of the products searched for)"
            complete = False
        else:
            text = source
            complete = False
        if s.get("is_generated"):
            text = f"generated sample data in the format of {text}"
        if text not in words:
            words.append(text)
    if not words:
        return "no recorded source snapshot", False
    if len(words) == 1:
        return words[0], complete
    return ", ".join(words[:-1]) + " and " + words[-1], complete


def store_background_facts(
    data: ProductData, *, reports: int, product_reports: int
) -> BackgroundFacts:
    """The statement of the local store background: its N and what it holds."""
    holdings, complete = _holdings(data)
    window = ""
    if data.since or data.until:
        start = data.since.isoformat() if data.since else "the earliest stored date"
        end = data.until.isoformat() if data.until else "the data cut-off"
        window = f" received from {start} to {end}"
    return BackgroundFacts(
        source="store",
        description=(
            f"the local store (N = {reports:,} {data.kind} reports{window} that name a product "
            f"and an event; it holds {holdings})"
        ),
        reports=reports,
        product_reports=product_reports,
        window_start=data.since,
        window_end=data.until,
        complete_extracts=complete,
    )
