"""openFDA whole-database counts for a drug's disproportionality 2x2 tables.

    with OpenFDAClient.from_settings(settings) as client:
        counts = fetch_drug_background(client, drug="atorvastatin", since=d0, until=d1)
    counts, hit = cached_drug_background(cache, lambda: ..., drug=..., since=..., until=...,
                                         base_url=..., ttl=...)

Why it looks like this:
- A store filled by `cerflow ingest openfda --drug X` holds almost only X, so b, c and d
  of its 2x2 tables describe nothing. FAERS as a whole is the background a PRR/ROR/IC is
  meant to be computed on, and openFDA counts it for us without downloading it:
    N    = `meta.results.total` of `receivedate:[since TO until]`
    n_P  = `meta.results.total` of the drug search AND the window
    a    = `count=patient.reaction.reactionmeddrapt.exact` of the drug search AND the window
    n_E  = the same count over the whole window (top 1,000 terms); a term of the product
           that is not among them gets its own total query
           (`patient.reaction.reactionmeddrapt.exact:"TERM" AND window`).
  Every count is of reports (openFDA documents), so the 2x2 cells are unique reports, as
  the store's own background counts them.
- Every request is kept with its URL (API key redacted), search, retrieval time and
  sha256 of the answer: the CER prints the queries, a reviewer can re-run them.
- The counts change only when openFDA is updated (weekly at most), so they are cached
  (`cerflow.cache`: Redis in production, the in-process cache otherwise) for
  `openfda_background_cache_seconds`; a hit makes no request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cerflow.cache import Cache
from cerflow.sources.base import Provenance
from cerflow.sources.openfda import (
    COUNT_TERM_CAP,
    DATE_FIELDS,
    DRUG_EVENT,
    OpenFDAClient,
    and_search,
    date_range,
    drug_search,
)

log = logging.getLogger(__name__)

EVENT_TERM_FIELD = "patient.reaction.reactionmeddrapt.exact"
CACHE_NAMESPACE = "openfda_background"
CACHE_VERSION = "1"  # bump when the stored shape or the counting changes
MAX_TERM_QUERIES = 2000  # per-term total queries for one product (rate limit: 240/min)


@dataclass(frozen=True, slots=True)
class CountQuery:
    """One openFDA request behind a count: what was asked, where, when, and its checksum."""

    purpose: str  # "N" | "product" | "product-event" | "event" | "event:<term>"
    url: str  # API key redacted
    search: str
    count_field: str | None
    retrieved_at: dt.datetime
    sha256: str


@dataclass(frozen=True, slots=True)
class DrugBackgroundCounts:
    """The margins and cells of every 2x2 table of one drug against all of FAERS."""

    drug: str
    since: dt.date
    until: dt.date
    n_reports: int  # N: every report received in the window
    product_reports: int  # n_P
    pair_counts: dict[str, int]  # event term -> a
    event_totals: dict[str, int]  # event term -> n_E (reports with the term, any product)
    queries: list[CountQuery] = field(default_factory=list)
    retrieved_at: dt.datetime | None = None  # the first request's time
    notes: list[str] = field(default_factory=list)
    from_cache: bool = False
    base_url: str = ""

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("from_cache")
        return json.dumps(data, default=str, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> DrugBackgroundCounts:
        data: dict[str, Any] = json.loads(raw)
        queries = [
            CountQuery(
                purpose=str(q["purpose"]),
                url=str(q["url"]),
                search=str(q["search"]),
                count_field=q.get("count_field"),
                retrieved_at=dt.datetime.fromisoformat(str(q["retrieved_at"])),
                sha256=str(q["sha256"]),
            )
            for q in data.get("queries") or []
        ]
        retrieved = data.get("retrieved_at")
        return cls(
            drug=str(data["drug"]),
            since=dt.date.fromisoformat(str(data["since"])),
            until=dt.date.fromisoformat(str(data["until"])),
            n_reports=int(data["n_reports"]),
            product_reports=int(data["product_reports"]),
            pair_counts={str(k): int(v) for k, v in data["pair_counts"].items()},
            event_totals={str(k): int(v) for k, v in data["event_totals"].items()},
            queries=queries,
            retrieved_at=dt.datetime.fromisoformat(str(retrieved)) if retrieved else None,
            notes=[str(n) for n in data.get("notes") or []],
            base_url=str(data.get("base_url") or ""),
        )


def _query(purpose: str, prov: Provenance | None, search: str, count: str | None) -> CountQuery:
    if prov is None:  # pragma: no cover - the client always sets it
        raise ValueError(f"openFDA count {purpose!r} came back without provenance")
    return CountQuery(purpose, prov.location, search, count, prov.retrieved_at, prov.sha256)


def fetch_drug_background(
    client: OpenFDAClient,
    *,
    drug: str,
    since: dt.date,
    until: dt.date,
    count_limit: int = COUNT_TERM_CAP,
    max_term_queries: int = MAX_TERM_QUERIES,
) -> DrugBackgroundCounts:
    """Count N, n_P, each of the drug's event terms (a) and each term's total (n_E).

    Raises `OpenFDAError` when openFDA refuses or fails, and ValueError for a window that
    starts after it ends or a product with more rare terms than `max_term_queries` allows.
    """
    window = date_range(DATE_FIELDS[DRUG_EVENT], since, until)
    product = and_search(drug_search(drug), window)
    queries: list[CountQuery] = []
    notes: list[str] = []

    page = client.page(DRUG_EVENT, window, limit=1)
    queries.append(_query("N", page.provenance, window, None))
    n_reports = page.total
    page = client.page(DRUG_EVENT, product, limit=1)
    queries.append(_query("product", page.provenance, product, None))
    product_reports = page.total

    pairs: dict[str, int] = {}
    if product_reports:
        found = client.count(DRUG_EVENT, product, EVENT_TERM_FIELD, limit=count_limit)
        queries.append(_query("product-event", found.provenance, product, EVENT_TERM_FIELD))
        pairs = {term: n for term, n in found if term and n > 0}
        if len(found) >= min(count_limit, COUNT_TERM_CAP):
            notes.append(
                f"openFDA lists at most {min(count_limit, COUNT_TERM_CAP):,} event terms of "
                "the product; rarer terms of the product were not tested"
            )

    totals: dict[str, int] = {}
    if pairs:
        everyone = client.count(DRUG_EVENT, window, EVENT_TERM_FIELD, limit=count_limit)
        queries.append(_query("event", everyone.provenance, window, EVENT_TERM_FIELD))
        listed = dict(everyone)
        totals = {t: listed[t] for t in pairs if t in listed}
        missing = sorted(t for t in pairs if t not in listed)
        if len(missing) > max_term_queries:
            raise ValueError(
                f"{len(missing):,} event terms of {drug!r} need their own openFDA total query "
                f"(more than {max_term_queries:,}); narrow the window with --since/--until"
            )
        for term in missing:
            search = and_search(f'{EVENT_TERM_FIELD}:"{_quote_free(term)}"', window)
            page = client.page(DRUG_EVENT, search, limit=1)
            queries.append(_query(f"event:{term}", page.provenance, search, None))
            # A term openFDA counts for the product is in the whole window too; a smaller
            # total would be an openFDA inconsistency: keep a >= n_E out of the tables.
            totals[term] = max(page.total, pairs[term])
    return DrugBackgroundCounts(
        drug=drug,
        since=since,
        until=until,
        n_reports=n_reports,
        product_reports=product_reports,
        pair_counts=pairs,
        event_totals=totals,
        queries=queries,
        retrieved_at=queries[0].retrieved_at if queries else None,
        notes=notes,
        base_url=client.base_url,
    )


def _quote_free(term: str) -> str:
    """openFDA's query syntax has no escape inside a phrase: drop `"` and `\\`."""
    return term.replace('"', " ").replace("\\", " ").strip()


def cache_query(*, drug: str, since: dt.date, until: dt.date, base_url: str) -> dict[str, str]:
    """The cache key's question: the drug (case and spacing do not matter), window, server."""
    return {
        "drug": drug,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "base_url": base_url.rstrip("/"),
    }


def cached_drug_background(
    cache: Cache,
    fetch: Callable[[], DrugBackgroundCounts],
    *,
    drug: str,
    since: dt.date,
    until: dt.date,
    base_url: str,
    ttl: int,
) -> DrugBackgroundCounts:
    """The counts from the cache, or `fetch()`ed and stored for `ttl` seconds.

    A hit is returned with `from_cache=True`; its queries keep their original retrieval
    times (what the CER states is when openFDA was asked, not when the cache was read).
    """
    query = cache_query(drug=drug, since=since, until=until, base_url=base_url)
    raw = cache.get(CACHE_NAMESPACE, query, CACHE_VERSION)
    if raw is not None:
        try:
            return replace(DrugBackgroundCounts.from_json(raw), from_cache=True)
        except (ValueError, KeyError, TypeError) as exc:  # a broken entry is a miss
            log.warning("ignoring a broken openFDA background cache entry: %s", exc)
    counts = fetch()
    cache.set(CACHE_NAMESPACE, query, CACHE_VERSION, counts.to_json(), ttl=ttl)
    return counts
