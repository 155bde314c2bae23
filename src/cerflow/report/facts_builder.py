"""Build a CER's `Facts` from the store: read once, then compute.

    build_facts(engine, *, drug=None, device_codes=None, since=None, until=None,
                settings=None, report_id=None, version=1, signal_cache=None) -> Facts

The composition of `cerflow.store.product_data.read_product` (every store read of the
product in one read transaction) and the pure `cerflow.report.compute.compute_facts_from`.
What happens here and nowhere else:
- an unknown product becomes `ProductNotFoundError`, naming the import to run;
- the database-wide disproportionality comes from the signal cache or, on a miss, from
  the background read (`read_background`) and the all-pairs analysis;
- the time-series models (statsmodels: about a second of mostly Python) need only the
  product's reports, so they run in a short thread beside that background read and
  disproportionality (NumPy, database). Inputs and code are the same, so are the numbers.
The analysis (scipy, statsmodels) is imported when facts are built, not with this module:
the API and the job layer import it at start-up for `ProductNotFoundError`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from cerflow.analysis.thresholds import SignalThresholds
from cerflow.config import Settings, get_settings
from cerflow.errors import NotFoundError
from cerflow.narrative.facts import Facts, MeddraFacts
from cerflow.store.labels import read_label
from cerflow.store.product_data import ProductData, read_background, read_product

if TYPE_CHECKING:
    from cerflow.report.background import CountsProvider
    from cerflow.report.compute import Series, SignalOutcome
    from cerflow.report.signal_cache import SignalCache

__all__ = ["ProductNotFoundError", "build_facts"]


class ProductNotFoundError(NotFoundError, LookupError):
    """The store holds no report for the product asked for."""


class _InThread:
    """Runs `fn()` in a short-lived thread; `result()` joins it and re-raises its error.

    Not a pool: an idle pool thread would outlive the call, and the renderer only forks
    its PDF child from a single-threaded process (`cerflow.report.render._PdfJob`).
    """

    def __init__(self, fn: Callable[[], Series]) -> None:
        self._fn = fn
        self._value: Series | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cerflow-facts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Series:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _not_found(data: ProductData) -> ProductNotFoundError:
    """Names the product, the window, the import that would fill it and near names."""
    kind, query, label = data.kind, data.query, data.label
    window = ""
    if data.since or data.until:
        window = f" received between {data.since or 'the start'} and {data.until or 'today'}"
    hint = (
        f"`cerflow ingest openfda --drug {query!r}` (or `cerflow ingest faers FILES`)"
        if kind == "drug"
        else "`cerflow ingest openfda "
        + " ".join(f"--device-code {c}" for c in data.product_codes)
        + "` (or `cerflow ingest maude FILES`)"
    )
    msg = (
        f"no {kind} reports for {query!r} (key {label!r}){window} in the store; "
        f"import them first with {hint}"
    )
    if data.similar:
        msg += f", or use one of the stored names: {', '.join(data.similar)}"
    return ProductNotFoundError(msg)


def _signal_outcome(
    engine: Engine,
    data: ProductData,
    thresholds: SignalThresholds,
    signal_cache: SignalCache | None,
) -> SignalOutcome:
    """From the cache when it holds this data version, else from the background read."""
    from cerflow.report.compute import SignalOutcome, signals_from_background
    from cerflow.report.signal_cache import signal_cache_key

    cache_key: str | None = None
    if signal_cache is not None and data.store_version is not None:
        cache_key = signal_cache_key(
            engine_url=engine.url.render_as_string(hide_password=True),
            kind=data.kind,
            since=data.since,
            until=data.until,
            members=data.members,
            label=data.label,
            thresholds=thresholds,
            version=data.store_version,
            in_store=dict(data.in_store),
        )
        hit = signal_cache.get(cache_key, product=data.label)
        if hit is not None:
            return SignalOutcome(hit.result)
    products, events, seen = read_background(engine, data.kind, data.since, data.until)
    outcome = signals_from_background(
        products, events, members=data.members, label=data.label, thresholds=thresholds
    )
    # Stored only when the background saw the same data version as the product's reads.
    if (
        signal_cache is not None
        and cache_key is not None
        and outcome.result is not None
        and seen == data.store_version
    ):
        signal_cache.put(cache_key, outcome.result)
    return outcome


def _window(data: ProductData) -> tuple[dt.date, dt.date]:
    """The review window, or the product's stored received dates where it is open."""
    dated = data.reports.get_column("received_date").drop_nulls()
    first, last = dated.min() if dated.len() else None, dated.max() if dated.len() else None
    since = data.since or (first if isinstance(first, dt.date) else None)
    until = data.until or data.cutoff or (last if isinstance(last, dt.date) else None)
    if since is None or until is None:
        raise ValueError(
            f"no received date for {data.query!r} in the store and no --since/--until: the "
            "openFDA background needs a date window; give --since and --until"
        )
    return since, until


def _openfda_outcome(
    data: ProductData, thresholds: SignalThresholds, counts: CountsProvider | None
) -> SignalOutcome:
    """Issue 11, 1(b): the product's 2x2 tables against openFDA's whole-database counts."""
    from cerflow.report.background import signals_from_counts
    from cerflow.report.compute import SignalOutcome

    if counts is None:
        raise ValueError(
            "the openFDA background needs a counts provider "
            "(cerflow.ingest.openfda_background.counts_provider(settings))"
        )
    since, until = _window(data)
    # The store's ingredient key, not the words typed: openFDA then matches the harmonized
    # generic and substance names of every report of the ingredient, as the store does.
    result, notes, background = signals_from_counts(
        counts(data.label, since, until), label=data.label, thresholds=thresholds
    )
    return SignalOutcome(result, notes, background=background)


def build_facts(
    engine: Engine,
    *,
    drug: str | None = None,
    device_codes: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    settings: Settings | None = None,
    report_id: str | None = None,
    version: int = 1,
    signal_cache: SignalCache | None = None,
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
    background: str | None = None,
    background_counts: CountsProvider | None = None,
) -> Facts:
    """Every number of the CER for one drug or one set of device product codes.

    `background` ("store" | "openfda"; default `settings.signal_background`) is what the
    disproportionality compares with; "openfda" needs `background_counts` and applies to
    drugs (a device report keeps the store, with a note saying so).

    `signal_cache` keeps the database-wide disproportionality result per data version
    (`cerflow.report.signal_cache`): with it, a report after the first one for the same
    data skips the background read and the GPS prior fit; the numbers are the same.

    Raises `ProductNotFoundError` (naming the product and the import to run) when the store
    has no report for it, and ValueError for contradictory arguments.
    """
    from cerflow.analysis.sdr import SdrCriteria
    from cerflow.report.background import check_background
    from cerflow.report.compute import compute_facts_from, methods_facts, monthly_series
    from cerflow.report.labelling import apply_labelling

    settings = settings or get_settings()
    chosen = check_background(background or settings.signal_background)
    data = read_product(
        engine,
        drug=drug,
        device_codes=device_codes,
        since=since,
        until=until,
        udi_dis=udi_dis,
        srns=srns,
        totals_cache=signal_cache,
    )
    if not data.found:
        raise _not_found(data)
    thresholds = SignalThresholds.from_settings(settings)
    methods = methods_facts(settings)
    series_job = _InThread(
        lambda: monthly_series(data.reports, data.since, data.until, data.cutoff, methods)
    )
    try:
        if chosen == "openfda" and data.kind == "drug":
            signals = _openfda_outcome(data, thresholds, background_counts)
        else:
            signals = _signal_outcome(engine, data, thresholds, signal_cache)
            if chosen == "openfda":
                signals = replace(
                    signals,
                    notes=(
                        *signals.notes,
                        "openFDA whole-database counts are used for drugs only; this device "
                        "product is compared with the local store",
                    ),
                )
    finally:
        series_job.join()  # never leave the thread running, even on an error here
    facts = compute_facts_from(
        data,
        thresholds=thresholds,
        signals=signals,
        series=series_job.result(),
        report_id=report_id,
        version=version,
        sdr_criteria=SdrCriteria.from_settings(settings),
        methods=methods,
        meddra=_meddra(engine, data, settings, thresholds),
    )
    # Labelled status (issue 11 item 3): the stored drug label, if any; devices have none.
    label = read_label(engine, data.product_keys) if data.kind == "drug" else None
    facts = apply_labelling(facts, label)
    # Issue 13: the safety physician's newest decision on each signal (signal review page).
    from cerflow.report.signal_reviews import apply_reviews, read_reviews, review_keys

    facts = apply_reviews(facts, read_reviews(engine, review_keys(drug, device_codes)))
    # Issue 14: the literature review of the product (protocol, search, PRISMA, appraisal).
    from cerflow.report.literature import apply_literature, read_literature

    return apply_literature(facts, read_literature(engine, review_keys(drug, device_codes)))


def _meddra(
    engine: Engine, data: ProductData, settings: Settings, thresholds: SignalThresholds
) -> MeddraFacts | None:
    """The MedDRA roll-up when the user supplied MedDRA files (None: the report says why
    not). A bad MedDRA folder fails the report with `MeddraFormatError` naming the file."""
    if settings.meddra_dir is None or data.kind != "drug":
        return None
    from cerflow.report.meddra_rollup import meddra_facts
    from cerflow.store.meddra import read_meddra

    tables = read_meddra(settings.meddra_dir)
    products, events, _ = read_background(engine, data.kind, data.since, data.until)
    return meddra_facts(data, tables, (products, events), thresholds=thresholds)
