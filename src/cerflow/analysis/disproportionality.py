"""All-pairs disproportionality: PRR, ROR, IC (BCPNN) and EBGM in one vectorised pass.

Counting (design doc, "unique reports"): for product P and event E over the N reports that
name at least one product and at least one event,

    a = reports with P and E      b = reports with P, without E
    c = reports with E, without P d = reports with neither

Duplicated report-product or report-event rows are counted once. Reports without any
event (or without any product) cannot be cross-classified and are left out of N. Only
pairs with ``a >= 1`` are enumerated (a pair never reported together carries no signal;
openEBGM's ``zeroes = FALSE``), via a sparse reports x products / reports x events
product, so no dense products x terms matrix is ever built.

Expected count ``E = n_P * n_E / N`` (openEBGM's unique-report marginals); with ``strata``
it is ``sum_s n_P,s * n_E,s / N_s`` (openEBGM's stratified E). E feeds IC and EBGM; PRR,
ROR and chi-squared are always the crude 2x2 statistics.

Statistics and the conventions that keep NaN and infinity out of results:

* PRR = [a/(a+b)] / [c/(c+d)], CI exp(ln PRR +- 1.96 sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d)));
  ROR = ad/bc, CI exp(ln ROR +- 1.96 sqrt(1/a + 1/b + 1/c + 1/d)). When a table has a zero
  cell (b, c or d = 0) all four cells get +0.5 (Haldane-Anscombe) for these two
  statistics and ``zero_cell_corrected`` is True: the same convention as vigipy, so the
  values are comparable.
* chi2 / chi2_yates: Pearson's statistic on the raw 2x2 table, without and with Yates'
  correction (``N (max(0, |ad - bc| - N/2))^2 / ((a+b)(c+d)(a+c)(b+d))``, identical to
  R's ``chisq.test`` and SciPy's ``chi2_contingency``); 0 when a margin is empty (no
  evidence of association can be computed).
* IC, ``ic_method="noren"`` (default): the UMC's shrinkage observed-to-expected ratio
  (Norén et al. 2006, 2013), IC = log2((a + 0.5) / (E + 0.5)), IC025/IC975 the 2.5 % and
  97.5 % points of log2 of a Gamma(a + 0.5, rate E + 0.5) posterior.
  ``ic_method="bcpnn"``: Bate et al. (1998) BCPNN with Gould's (2003) closed-form posterior
  mean and variance and a normal interval, exactly what vigipy's ``bcpnn`` computes (it
  uses the crude marginals, not stratified E). The two agree closely for large counts
  and differ for small ones because the priors differ.
* EBGM / EB05 / EB95: DuMouchel's GPS (see :mod:`cerflow.analysis.gps`), prior fitted by
  maximum likelihood on all enumerated pairs unless one is passed in.

``min_count`` only filters the returned rows; the GPS prior is always fitted on every
observed pair, so results for a pair do not depend on which rows the caller keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import special

from cerflow.analysis import gps
from cerflow.analysis._pages import small_pages
from cerflow.analysis.gps import GpsPrior
from cerflow.analysis.thresholds import ALL_METHODS as ALL_METHODS
from cerflow.analysis.thresholds import Method as Method
from cerflow.analysis.thresholds import SignalThresholds

IcMethod = Literal["noren", "bcpnn"]
Z975 = 1.959963984540054

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PairCounts:
    """Per-pair counts, margins and expected counts, before any statistic."""

    product_code: IntArray
    event_code: IntArray
    a: IntArray
    n_product: IntArray  # reports with the pair's product
    n_event: IntArray  # reports with the pair's event
    expected: FloatArray
    n_reports: int
    product_labels: pl.Series
    event_labels: pl.Series
    n_strata: int = 1

    @property
    def n_pairs(self) -> int:
        return int(self.a.size)


@dataclass(frozen=True)
class SignalResult:
    """One row per product-event pair (``table``) plus what produced it.

    ``table`` columns: product, event, a, b, c, d, expected, zero_cell_corrected and, per
    requested method, prr, prr_lo, prr_hi, chi2, chi2_yates, flag_evans | ror, ror_lo,
    ror_hi, flag_ror | ic, ic025, ic975, flag_ic | ebgm, eb05, eb95, flag_ebgm. No float
    column holds NaN or infinity.
    """

    table: pl.DataFrame
    n_reports: int
    prior: GpsPrior | None
    methods: tuple[Method, ...]
    thresholds: SignalThresholds
    ic_method: IcMethod
    n_strata: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_pairs(self) -> int:
        return self.table.height


def _dense_codes(values: pl.Series) -> tuple[IntArray, pl.Series]:
    """Dense 0..k-1 codes for any column, and the label of each code. The codes are int64,
    or the column's own signed integers when they are already 0..k-1 (no copy)."""
    if values.dtype.is_integer():
        own = values.to_numpy()
        if own.size == 0:
            return np.zeros(0, dtype=np.int64), values
        lo, hi = int(own.min()), int(own.max())
        raw = own.astype(np.int64, copy=False) if lo or own.dtype.kind != "i" else own
        if hi - lo <= 4 * raw.size + 1024:  # compact ids: remap through a dense table
            present = np.zeros(hi - lo + 1, dtype=np.int64)
            present[raw - lo if lo else raw] = 1
            if lo == 0 and bool(present.all()):  # already 0..k-1: codes are the ids
                return raw, pl.Series(values.name, np.arange(hi + 1)).cast(values.dtype)
            raw = raw.astype(np.int64, copy=False)
            remap = np.cumsum(present) - 1
            codes = remap[raw - lo]
            first_row = np.empty(int(present.sum()), dtype=np.int64)
            first_row[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
            return codes, values.gather(first_row)
        raw = raw.astype(np.int64, copy=False)
        order = np.argsort(raw, kind="stable")
        sorted_raw = raw[order]
        first = np.r_[True, sorted_raw[1:] != sorted_raw[:-1]]
        codes_sorted = np.cumsum(first) - 1
        codes = np.empty_like(codes_sorted)
        codes[order] = codes_sorted
        return codes, values.gather(order[first])
    if values.dtype == pl.String or isinstance(values.dtype, pl.Categorical | pl.Enum):
        phys = values.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    else:
        phys = values.cast(pl.String).cast(pl.Categorical).to_physical().to_numpy()
        phys = phys.astype(np.int64)
    present = np.zeros(int(phys.max()) + 1 if phys.size else 0, dtype=np.int64)
    present[phys] = 1
    remap = np.cumsum(present) - 1
    codes = remap[phys]
    first_row = np.empty(int(present.sum()), dtype=np.int64)
    first_row[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
    return codes, values.gather(first_row)


def _report_range(rep_p: pl.Series, rep_e: pl.Series) -> tuple[int, int] | None:
    """(lo, hi) when report ids are integers in a compact range: code ``i`` is id ``lo + i``
    (``lo`` is 0 when the ids start near 0, so that they are their own codes). Ids that
    appear in no row get a code too; they name no product and no event, so they are
    never "usable" and never counted. Saves the remapping passes of :func:`_dense_codes`
    over every row. None when the ids are not compact integers.
    """
    if not (rep_p.dtype.is_integer() and rep_e.dtype.is_integer()) or not (
        rep_p.len() and rep_e.len()
    ):
        return None
    lo = min(int(rep_p.min()), int(rep_e.min()))  # type: ignore[arg-type]
    hi = max(int(rep_p.max()), int(rep_e.max()))  # type: ignore[arg-type]
    span = 4 * (rep_p.len() + rep_e.len()) + 1024
    if hi - lo > span:
        return None
    if lo >= 0 and hi <= span:
        lo = 0  # ids are codes as they are (no subtraction pass)
    return lo, hi


def _report_codes(ids: pl.Series | IntArray, lo: int) -> IntArray:
    """Report codes of one side: ``id - lo`` for a compact integer column, or the codes
    already computed for both sides (an array)."""
    if isinstance(ids, np.ndarray):
        return ids
    codes = ids.to_numpy().astype(np.int64, copy=False)
    return codes - lo if lo else codes


def _require_columns(frame: pl.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} frame lacks column(s) {missing}; it has {frame.columns}. Pass one row "
            f"per report and {columns[1]} with columns {list(columns)}."
        )
    for c in columns:
        if frame[c].null_count():
            raise ValueError(
                f"{name}.{c} has {frame[c].null_count()} null value(s); drop or fill them "
                "before the analysis"
            )


def _unique_pairs(rows: IntArray, cols: IntArray, n_cols: int) -> tuple[IntArray, IntArray]:
    """Deduplicate (row, col) pairs; returns them sorted by row then col.

    Store extracts usually arrive sorted by report and free of duplicates: checking that
    costs one pass, the sort it saves costs several. Each pair is one integer key ``row <<
    bits | col`` (shifts and masks instead of the divisions of ``row * n_cols + col``);
    when the rows are sorted by report and only the items within a report are out of
    order, the stable sort (timsort) finds the sorted runs and costs about one pass."""
    shift = _bits(n_cols)
    key = np.left_shift(rows, shift, dtype=np.int64)
    key |= cols
    if key.size <= 1:
        return rows, cols
    ordered = key[1:] > key[:-1]
    if bool(ordered.all()):
        return rows, cols
    by_row = bool(np.all(rows[1:] >= rows[:-1]))
    del ordered
    key.sort(kind="stable" if by_row else "quicksort")
    keep = np.empty(key.size, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    key = key[keep]
    del keep
    cols = key & ((1 << shift) - 1)
    key >>= shift
    return key, cols


def _bits(n: int) -> int:
    """Bits that hold the codes 0..n-1 (at least 1)."""
    return max(int(n) - 1, 1).bit_length()


def _co_report_counts(
    rp: IntArray, pc: IntArray, re: IntArray, ec: IntArray, n_rep: int, n_ev: int
) -> tuple[IntArray, IntArray, IntArray]:
    """(product code, event code, a) of every pair co-reported at least once.

    ``rp/pc`` and ``re/ec`` are deduplicated (report, item) rows of usable reports, sorted
    by report. Every (report, product, event) triple is enumerated as one integer key
    ``product << bits | event``; the keys are sorted and run-length counted. Sorting one
    flat integer array (SIMD sort in NumPy >= 2) costs less than a sparse matrix product,
    which needs two passes, transposes and index conversions. Step j pairs every product
    row whose report has more than j events with that report's j-th event, and keeps only
    those rows for the next step: as many vectorised steps as the largest report has
    events, each over the rows still in play, so the work is the number of triples
    whatever the shape of the reports (no sort of the rows by their report's size).
    """
    n_events_of = np.bincount(re, minlength=n_rep)
    first_event = np.cumsum(n_events_of)
    first_event -= n_events_of
    base = first_event[rp]  # int64: the index type of take, no conversion per step
    del first_event
    if re.size < 2**31:
        n_events_of = n_events_of.astype(np.int32)
    k = n_events_of[rp]
    del n_events_of
    n_triples = int(k.sum(dtype=np.int64))
    if n_triples == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    shift = _bits(n_ev)
    n_keys = (int(pc.max()) + 1) << shift
    dtype = np.int32 if n_keys <= 2**31 else np.int64
    ec_t: NDArray[np.integer] = ec.astype(dtype)
    prod_key: NDArray[np.integer] = pc.astype(dtype)
    prod_key <<= shift
    return _count_keys(k, base, prod_key, ec_t, shift, n_triples)


def _count_keys(
    k: NDArray[np.integer],
    base: NDArray[np.integer],
    prod_key: NDArray[np.integer],
    ec_t: NDArray[np.integer],
    shift: int,
    n_triples: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """Sorted (product, event, a) of the triples of product rows with ``k`` (>= 1) events
    in their report, whose first event row in ``ec_t`` is ``base``; ``prod_key`` is the
    product code shifted left by ``shift`` bits. ``base`` is advanced in place."""
    if k.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    keys = np.empty(n_triples, dtype=ec_t.dtype)
    pos, j = 0, 0
    while pos < n_triples:
        if j:  # j = 0: every row's report has an event
            keep = k > j
            if int(np.count_nonzero(keep)) < k.size:
                k, base, prod_key = k[keep], base[keep], prod_key[keep]
            base += 1  # the next event of each report: one row further than the last step
        step = keys[pos : pos + k.size]
        np.take(ec_t, base, out=step, mode="clip")  # unbuffered: indices are in range
        step |= prod_key
        pos += k.size
        j += 1
    del k, base, prod_key
    keys.sort()
    first = np.empty(keys.size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    a = np.empty(starts.size, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=a[:-1])
    a[-1] = keys.size - starts[-1]
    uniq = keys[starts].astype(np.int64)
    del keys, starts
    e_code = uniq & ((1 << shift) - 1)
    uniq >>= shift
    return uniq, e_code, a


_THREAD_ROWS_ABOVE = 1_000_000
# Above this many rows the two sides run one after the other: their temporaries held at
# once added ~1.2 GB to the peak at 20M reports (100M rows), past the 8 GB budget.
_THREAD_ROWS_MAX = 30_000_000


def _coded_side(
    ids: pl.Series | IntArray, values: pl.Series, lo: int, n_rep: int
) -> tuple[IntArray, IntArray, pl.Series, NDArray[np.bool_], IntArray]:
    """One side (products or events): deduplicated (report code, item code) rows sorted
    by report, the item labels, which reports the side names and each item's number of
    reports (its margin, before the usable-report filter)."""
    rows = _report_codes(ids, lo)
    codes, labels = _dense_codes(values)
    rows, codes = _unique_pairs(rows, codes, max(int(labels.len()), 1))
    named = np.zeros(n_rep, dtype=bool)
    named[rows] = True
    margin = np.bincount(codes, minlength=int(labels.len())).astype(np.int64, copy=False)
    return rows, codes, labels, named, margin


@small_pages()  # a fresh switch per call: see analysis/_pages.py
def count_pairs(
    products: pl.DataFrame,
    events: pl.DataFrame,
    *,
    strata: pl.DataFrame | None = None,
    report_col: str = "report_id",
    product_col: str = "product",
    event_col: str = "event",
    stratum_col: str = "stratum",
) -> PairCounts:
    """a, n_P, n_E, N and E for every co-reported product-event pair.

    ``products``: (report_id, product), ``events``: (report_id, event), one row per
    report-product / report-event (duplicates allowed). ``strata``: (report_id, stratum),
    at most one row per report; reports missing from it (or with a null stratum) form a
    stratum of their own.
    """
    _require_columns(products, "products", [report_col, product_col])
    _require_columns(events, "events", [report_col, event_col])
    n_p_rows = products.height
    rep_p, rep_e = products.get_column(report_col), events.get_column(report_col)
    span = _report_range(rep_p, rep_e)
    rep_labels: pl.Series | None = None  # label of each report code, built if needed
    ids: tuple[pl.Series | IntArray, pl.Series | IntArray] = (rep_p, rep_e)
    if span is not None:
        lo, hi = span
        n_rep_all = hi - lo + 1
    else:
        lo = 0
        report_all = (
            pl.concat([rep_p, rep_e], how="vertical")
            if products.height or events.height
            else pl.Series(report_col, [], dtype=pl.Int64)
        )
        if products.height and events.height:
            rep_codes, rep_labels = _dense_codes(report_all)
        else:
            rep_codes, rep_labels = np.zeros(0, dtype=np.int64), report_all
        ids = (rep_codes[:n_p_rows], rep_codes[n_p_rows:])
        n_rep_all = int(rep_labels.len())
    if not (products.height and events.height):
        return _no_pairs(products.get_column(product_col), events.get_column(event_col))
    # The product side and the event side are independent until the usable-report
    # filter: on large inputs each gets a thread (NumPy releases the GIL).
    sides = [
        (ids[0], products.get_column(product_col), lo, n_rep_all),
        (ids[1], events.get_column(event_col), lo, n_rep_all),
    ]
    if _THREAD_ROWS_ABOVE <= products.height + events.height <= _THREAD_ROWS_MAX:
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(_coded_side, *sides[1])
            rp, pc, p_labels, has_p, n_product_all = _coded_side(*sides[0])
            re, ec, e_labels, has_e, n_event_all = other.result()
    else:
        rp, pc, p_labels, has_p, n_product_all = _coded_side(*sides[0])
        re, ec, e_labels, has_e, n_event_all = _coded_side(*sides[1])
    n_prod, n_ev = int(p_labels.len()), int(e_labels.len())

    # Keep only reports with at least one product and one event (after deduplication,
    # which keeps the same reports).
    usable = has_p & has_e
    n_reports = int(usable.sum())
    if n_reports != int(has_p.sum()) or n_reports != int(has_e.sum()):
        kp = usable[rp]
        ke = usable[re]
        rp, pc, re, ec = rp[kp], pc[kp], re[ke], ec[ke]
        n_product_all = np.bincount(pc, minlength=n_prod).astype(np.int64)
        n_event_all = np.bincount(ec, minlength=n_ev).astype(np.int64)

    if n_reports == 0:
        return _no_pairs(p_labels, e_labels)
    p_code, e_code, a = _co_report_counts(rp, pc, re, ec, n_rep_all, n_ev)
    n_product = n_product_all[p_code]
    n_event = n_event_all[e_code]

    n_strata = 1
    if strata is None:
        expected = n_product.astype(np.float64) * n_event / float(n_reports)
    else:
        if rep_labels is None:
            name, dtype = report_col, products.schema[report_col]
            rep_labels = pl.Series(name, np.arange(lo, hi + 1, dtype=np.int64)).cast(dtype)
        expected, n_strata = _stratified_expected(
            strata,
            report_col,
            stratum_col,
            rep_labels,
            usable,
            rp,
            pc,
            re,
            ec,
            n_prod,
            n_ev,
            p_code,
            e_code,
        )
    return PairCounts(
        product_code=p_code,
        event_code=e_code,
        a=a,
        n_product=n_product,
        n_event=n_event,
        expected=expected,
        n_reports=n_reports,
        product_labels=p_labels,
        event_labels=e_labels,
        n_strata=n_strata,
    )


def _no_pairs(products: pl.Series, events: pl.Series) -> PairCounts:
    """Counts without any pair (no usable report), labels typed as the input's."""
    empty = np.zeros(0, dtype=np.int64)
    return PairCounts(empty, empty, empty, empty, empty, np.zeros(0), 0, products[:0], events[:0])


def count_pairs_lazy(
    products: pl.LazyFrame,
    events: pl.LazyFrame,
    *,
    report_col: str = "report_id",
    product_col: str = "product",
    event_col: str = "event",
) -> PairCounts:
    """The same :class:`PairCounts` as :func:`count_pairs`, computed out of core.

    For report sets that do not fit in memory as rows (e.g. ``pl.scan_parquet`` of a
    full-history extract): deduplication, the usable-report filter, the margins and the
    pair counts run in Polars' streaming engine, which reads the rows in batches and
    keeps only the hash tables (one entry per report for the filter, one per pair for the
    counts) in memory. Only the pair table (one row per co-reported pair) is
    materialised, and the statistics then run on it in memory as usual. Unstratified
    only. Codes follow the sorted labels, so rows come out sorted by product then event.
    """
    for frame, name, cols in (
        (products, "products", [report_col, product_col]),
        (events, "events", [report_col, event_col]),
    ):
        names = frame.collect_schema().names()
        missing = [c for c in cols if c not in names]
        if missing:
            raise ValueError(
                f"{name} frame lacks column(s) {missing}; it has {names}. Pass one row per "
                f"report and {cols[1]} with columns {cols}."
            )
    p = products.select(report_col, product_col)
    e = events.select(report_col, event_col)
    nulls = pl.collect_all([p.null_count(), e.null_count()], engine="streaming")
    for frame_nulls, name in zip(nulls, ("products", "events"), strict=True):
        for col, k in frame_nulls.row(0, named=True).items():
            if k:
                raise ValueError(
                    f"{name}.{col} has {k} null value(s); drop or fill them before the analysis"
                )
    p = p.unique()
    e = e.unique()
    # Usable reports name at least one product and one event.
    p = p.join(e.select(report_col).unique(), on=report_col, how="semi")
    e = e.join(p.select(report_col).unique(), on=report_col, how="semi")
    n_p = p.group_by(product_col).agg(pl.len().alias("n")).sort(product_col)
    n_e = e.group_by(event_col).agg(pl.len().alias("n")).sort(event_col)
    n_rep = p.select(pl.col(report_col).n_unique().alias("n"))
    pairs = p.join(e, on=report_col).group_by(product_col, event_col).agg(pl.len().alias("a"))
    n_p_df, n_e_df, n_rep_df, pairs_df = pl.collect_all(
        [n_p, n_e, n_rep, pairs], engine="streaming"
    )
    n_reports = int(n_rep_df.item()) if n_rep_df.height else 0
    p_labels = n_p_df.get_column(product_col)
    e_labels = n_e_df.get_column(event_col)
    coded = (
        pairs_df.join(
            n_p_df.with_row_index("_p").select(product_col, "_p"), on=product_col, how="left"
        )
        .join(n_e_df.with_row_index("_e").select(event_col, "_e"), on=event_col, how="left")
        .sort("_p", "_e")
    )
    p_code = coded.get_column("_p").to_numpy().astype(np.int64)
    e_code = coded.get_column("_e").to_numpy().astype(np.int64)
    a = coded.get_column("a").to_numpy().astype(np.int64)
    n_product = n_p_df.get_column("n").to_numpy().astype(np.int64)[p_code]
    n_event = n_e_df.get_column("n").to_numpy().astype(np.int64)[e_code]
    expected = (
        n_product.astype(np.float64) * n_event / float(n_reports) if n_reports else np.zeros(0)
    )
    return PairCounts(
        product_code=p_code,
        event_code=e_code,
        a=a,
        n_product=n_product,
        n_event=n_event,
        expected=expected,
        n_reports=n_reports,
        product_labels=p_labels,
        event_labels=e_labels,
    )


def _stratified_expected(
    strata: pl.DataFrame,
    report_col: str,
    stratum_col: str,
    rep_labels: pl.Series,
    usable: NDArray[np.bool_],
    rp: IntArray,
    pc: IntArray,
    re: IntArray,
    ec: IntArray,
    n_prod: int,
    n_ev: int,
    p_code: IntArray,
    e_code: IntArray,
) -> tuple[FloatArray, int]:
    _require_columns(strata.select(report_col), "strata", [report_col])
    if stratum_col not in strata.columns:
        raise ValueError(f"strata frame lacks column {stratum_col!r}; it has {strata.columns}")
    dup = strata.get_column(report_col).is_duplicated()
    if dup.any():
        first = strata.filter(dup).get_column(report_col)[0]
        raise ValueError(
            f"strata has {int(dup.sum())} rows for repeated report ids (e.g. {first!r}); "
            "give each report exactly one stratum"
        )
    lookup = pl.DataFrame({report_col: rep_labels}).with_row_index("_code")
    labelled = strata.select(
        pl.col(report_col).cast(rep_labels.dtype, strict=False), pl.col(stratum_col)
    )
    joined = lookup.join(labelled, on=report_col, how="left", maintain_order="left")
    s_codes, s_labels = _dense_codes(joined.get_column(stratum_col).fill_null(_NULL_STRATUM))
    report_stratum = np.empty(rep_labels.len(), dtype=np.int64)
    report_stratum[joined.get_column("_code").to_numpy()] = s_codes
    report_stratum[~usable] = -1
    n_s = int(s_labels.len())
    n_rep_s = np.bincount(report_stratum[usable], minlength=n_s).astype(np.float64)
    pc, ec = pc.astype(np.int64, copy=False), ec.astype(np.int64, copy=False)
    nps = np.bincount(pc * n_s + report_stratum[rp], minlength=n_prod * n_s).reshape(n_prod, n_s)
    nes = np.bincount(ec * n_s + report_stratum[re], minlength=n_ev * n_s).reshape(n_ev, n_s)
    expected = np.zeros(p_code.size)
    for s in range(n_s):
        if n_rep_s[s] > 0:
            expected += nps[p_code, s].astype(np.float64) * nes[e_code, s] / n_rep_s[s]
    return expected, int((n_rep_s > 0).sum())


_NULL_STRATUM = "(missing stratum)"


def pair_counts_from_table(
    table: pl.DataFrame,
    *,
    product_col: str = "product",
    event_col: str = "event",
    count_col: str = "a",
    product_totals: pl.DataFrame | None = None,
    event_totals: pl.DataFrame | None = None,
    n_reports: int | None = None,
) -> PairCounts:
    """Pair counts from a ready contingency table (one row per product-event cell).

    Margins default to the table's row/column sums and N to its grand total, which is
    right when every report contributes exactly one cell (e.g. the MDDC statin tables,
    whose "Other" row/column close the table) and is vigipy's convention. Pass
    ``product_totals`` (product, n) / ``event_totals`` (event, n) / ``n_reports`` when the
    true unique-report margins are known. Cells with a zero count are dropped.
    """
    _require_columns(table, "table", [product_col, event_col, count_col])
    counts = table.get_column(count_col).cast(pl.Float64).to_numpy()
    if np.any(counts < 0) or np.any(counts != np.floor(counts)):
        raise ValueError(f"table.{count_col} must hold non-negative whole counts")
    pc, p_labels = _dense_codes(table.get_column(product_col))
    ec, e_labels = _dense_codes(table.get_column(event_col))
    n_prod, n_ev = int(p_labels.len()), int(e_labels.len())
    pc, ec = pc.astype(np.int64, copy=False), ec.astype(np.int64, copy=False)
    key = pc * max(n_ev, 1) + ec
    if np.unique(key).size != key.size:
        raise ValueError("table has repeated product-event cells; aggregate them first")
    a_all = counts.astype(np.int64)
    n_product_all = np.bincount(pc, weights=counts, minlength=n_prod).astype(np.int64)
    n_event_all = np.bincount(ec, weights=counts, minlength=n_ev).astype(np.int64)
    if product_totals is not None:
        n_product_all = _totals(product_totals, p_labels, product_col, n_product_all)
    if event_totals is not None:
        n_event_all = _totals(event_totals, e_labels, event_col, n_event_all)
    total = int(a_all.sum()) if n_reports is None else int(n_reports)
    keep = a_all > 0
    p_code, e_code, a = pc[keep], ec[keep], a_all[keep]
    n_product, n_event = n_product_all[p_code], n_event_all[e_code]
    if np.any(n_product < a) or np.any(n_event < a) or np.any(n_product + n_event - a > total):
        raise ValueError(
            "the margins are inconsistent with the cell counts (a margin is smaller than a "
            "cell, or n_P + n_E - a exceeds N); check product_totals/event_totals/n_reports"
        )
    expected = n_product.astype(np.float64) * n_event / float(total) if total else np.zeros(0)
    return PairCounts(p_code, e_code, a, n_product, n_event, expected, total, p_labels, e_labels)


def _totals(frame: pl.DataFrame, labels: pl.Series, col: str, default: IntArray) -> IntArray:
    _require_columns(frame, "totals", [col, "n"])
    lookup = pl.DataFrame({col: labels}).with_row_index("_code")
    joined = lookup.join(frame.select(col, "n"), on=col, how="left")
    out = default.copy()
    codes = joined.get_column("_code").to_numpy()
    n = joined.get_column("n").to_numpy()
    given = ~np.isnan(n.astype(np.float64))
    out[codes[given]] = n[given].astype(np.int64)
    return out


def _ic_noren_tables(a: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Norén shrinkage IC: log2 of the posterior's (a + 0.5) and its 2.5 % / 97.5 % gamma
    quantiles, indexed by a. They depend on a only, so they are computed once per distinct
    count; IC = table[a] - log2(E + 0.5)."""
    present = np.bincount(a) > 0 if a.size else np.zeros(1, dtype=bool)
    shape = np.flatnonzero(present).astype(np.float64) + 0.5
    tables = []
    for values in (
        np.log2(shape),
        np.log2(special.gammaincinv(shape, 0.025)),
        np.log2(special.gammaincinv(shape, 0.975)),
    ):
        table = np.zeros(present.size)
        table[present] = values
        tables.append(table)
    return tables[0], tables[1], tables[2]


def _ic_bcpnn(
    a: FloatArray, n_p: FloatArray, n_e: FloatArray, n: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Gould's closed-form BCPNN posterior mean/variance (as vigipy.bcpnn)."""
    p1 = 1.0 + n_p
    p2 = 1.0 + n - n_p
    q1 = 1.0 + n_e
    q2 = 1.0 + n - n_e
    r1 = 1.0 + a
    r2b = n - a - 1.0 + (2.0 + n) ** 2 / (q1 * p1)
    ln2 = np.log(2.0)
    ic = (
        special.digamma(r1)
        - special.digamma(r1 + r2b)
        - (
            special.digamma(p1)
            - special.digamma(p1 + p2)
            + special.digamma(q1)
            - special.digamma(q1 + q2)
        )
    ) / ln2
    var = (
        special.polygamma(1, r1)
        - special.polygamma(1, r1 + r2b)
        + special.polygamma(1, p1)
        - special.polygamma(1, p1 + p2)
        + special.polygamma(1, q1)
        - special.polygamma(1, q1 + q2)
    ) / ln2**2
    sd = np.sqrt(np.maximum(var, 0.0))
    return ic, ic - Z975 * sd, ic + Z975 * sd


@small_pages()  # a fresh switch per call: see analysis/_pages.py
def compute_signals(
    counts: PairCounts,
    *,
    methods: Sequence[Method] = ALL_METHODS,
    min_count: int = 1,
    thresholds: SignalThresholds | None = None,
    prior: GpsPrior | None = None,
    ic_method: IcMethod = "noren",
) -> SignalResult:
    """Statistics and flags for precomputed :class:`PairCounts`."""
    thresholds = thresholds or SignalThresholds()
    chosen = _check_methods(methods)
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if ic_method not in ("noren", "bcpnn"):
        raise ValueError(f"ic_method must be 'noren' or 'bcpnn', got {ic_method!r}")
    notes: list[str] = []
    n = counts.n_reports
    a = counts.a
    if counts.n_pairs == 0:
        notes.append("no product-event pair was co-reported; there is nothing to analyse")
    # The EBGM part (GPS fit, posterior quantiles) needs only a and E: on large inputs it
    # runs in a second thread while PRR, ROR and IC are computed here, and then uses both
    # threads itself. NumPy and SciPy release the GIL inside their loops, so both cores
    # work (the reference pair counts of DuckDB and Polars use them too).
    ebgm_job: Future[tuple[GpsPrior, FloatArray, FloatArray, FloatArray]] | None = None
    pool: ThreadPoolExecutor | None = None
    if "ebgm" in chosen and counts.n_pairs >= _THREAD_ABOVE:
        pool = ThreadPoolExecutor(max_workers=1)
        ebgm_job = pool.submit(_ebgm_columns, a, counts.expected, prior, 2)
    cols, finite = _statistics_columns(counts, chosen, thresholds, ic_method)
    product = _gather_labels(counts.product_labels, counts.product_code)
    event = _gather_labels(counts.event_labels, counts.event_code)
    fitted = prior
    if "ebgm" in chosen:
        if counts.n_pairs == 0:
            eb = eb05 = eb95 = np.zeros(0)
        else:
            if ebgm_job is not None and pool is not None:
                fitted, eb, eb05, eb95 = ebgm_job.result()
                pool.shutdown()
            else:
                fitted, eb, eb05, eb95 = _ebgm_columns(a, counts.expected, prior, 1)
            if prior is None and not fitted.converged:
                notes.append(
                    "the GPS prior fit did not converge cleanly "
                    f"({fitted.method}); EBGM-based flags deserve caution"
                )
        cols.update(ebgm=eb, eb05=eb05, eb95=eb95, flag_ebgm=eb05 >= thresholds.eb05_min)

    table = pl.DataFrame({"product": product, "event": event, **cols})
    if min_count > 1:
        table = table.filter(pl.col("a") >= min_count)
    _assert_finite(table, finite)
    return SignalResult(
        table=table,
        n_reports=n,
        prior=fitted if "ebgm" in chosen else None,
        methods=chosen,
        thresholds=thresholds,
        ic_method=ic_method,
        n_strata=counts.n_strata,
        notes=tuple(notes),
    )


_THREAD_ABOVE = 200_000
# Pairs per step of the statistics: the temporaries of a step are reused from step to
# step, where whole-column temporaries (a dozen per statistic) were fresh memory that the
# kernel page-faults and zeroes, which cost more than the arithmetic. Steps this long
# keep the Python between NumPy calls short next to the calls themselves, which run
# without the GIL, so the GPS fit's thread (mostly Python) runs beside them.
_STATS_CHUNK = 65_536


def _gather_labels(labels: pl.Series, codes: IntArray) -> pl.Series:
    """``labels[codes]``; integer labels are gathered in NumPy (no index conversion)."""
    if labels.dtype.is_integer() and not labels.null_count():
        return pl.Series(labels.name, labels.to_numpy()[codes])
    return labels.gather(codes)


_PRR_FLOATS = ("prr", "prr_lo", "prr_hi", "chi2", "chi2_yates")
_ROR_FLOATS = ("ror", "ror_lo", "ror_hi")
_IC_FLOATS = ("ic", "ic025", "ic975")


def _statistics_columns(
    counts: PairCounts,
    chosen: tuple[Method, ...],
    thresholds: SignalThresholds,
    ic_method: IcMethod,
) -> tuple[dict[str, NDArray[Any]], set[str]]:
    """a, b, c, d, expected, zero_cell_corrected and the PRR, ROR and IC columns, computed
    in chunks of pairs into preallocated columns (the same arithmetic, value for value,
    as on whole columns). Also returns the float columns found finite on the way."""
    size = counts.n_pairs
    floats: list[str] = []
    cols: dict[str, NDArray[Any]] = {
        "a": counts.a,
        "b": np.empty(size, dtype=np.int64),
        "c": np.empty(size, dtype=np.int64),
        "d": np.empty(size, dtype=np.int64),
        "expected": counts.expected,
        "zero_cell_corrected": np.empty(size, dtype=bool),
    }
    for method, names, flag in (
        ("prr", _PRR_FLOATS, "flag_evans"),
        ("ror", _ROR_FLOATS, "flag_ror"),
        ("ic", _IC_FLOATS, "flag_ic"),
    ):
        if method in chosen:  # each method's values, then its flag (the table's order)
            floats += names
            cols.update({name: np.empty(size) for name in names})
            cols[flag] = np.empty(size, dtype=bool)
    sums = dict.fromkeys(floats, 0.0)
    ic_tables = _ic_noren_tables(counts.a) if "ic" in chosen and ic_method == "noren" else None
    for start in range(0, size, _STATS_CHUNK):
        part = slice(start, start + _STATS_CHUNK)
        _statistics_chunk(counts, part, cols, chosen, thresholds, ic_method, ic_tables)
        for name in floats:
            sums[name] += float(np.sum(cols[name][part]))
    with np.errstate(invalid="ignore", over="ignore"):
        finite = {name for name, total in sums.items() if np.isfinite(total)}
    return cols, finite


def _statistics_chunk(
    counts: PairCounts,
    part: slice,
    cols: dict[str, NDArray[Any]],
    chosen: tuple[Method, ...],
    thresholds: SignalThresholds,
    ic_method: IcMethod,
    ic_tables: tuple[FloatArray, FloatArray, FloatArray] | None,
) -> None:
    """One chunk of :func:`_statistics_columns`, written into ``cols[...][part]``."""
    n = counts.n_reports
    a = counts.a[part]
    n_product = counts.n_product[part]
    b = np.subtract(n_product, a, out=cols["b"][part])
    c = np.subtract(counts.n_event[part], a, out=cols["c"][part])
    d = np.subtract(n, n_product, out=cols["d"][part])
    d -= c
    zero = np.equal(b, 0, out=cols["zero_cell_corrected"][part])
    zero |= c == 0
    zero |= d == 0
    a_f, b_f, c_f, d_f = (x.astype(np.float64) for x in (a, b, c, d))
    n_p = n_product.astype(np.float64)
    n_e = counts.n_event[part].astype(np.float64)
    if zero.any():
        half = 0.5 * zero
        ah, bh, ch, dh = a_f + half, b_f + half, c_f + half, d_f + half
    else:  # no copies when no table has a zero cell (the usual case at scale)
        ah, bh, ch, dh = a_f, b_f, c_f, d_f
    # Written straight into the columns and with each shared term computed once; the
    # operations and their order are those of the formulas in the module docstring, so
    # the values are the same as evaluating them one array expression at a time.
    if "prr" in chosen:
        ab, cd = ah + bh, ch + dh
        with np.errstate(divide="ignore", invalid="ignore"):
            log_prr = np.log(ah / ab)
            log_prr -= np.log(ch / cd)
            var = 1 / ah
            var -= 1 / ab
            var += 1 / ch
            var -= 1 / cd
        se = np.sqrt(np.maximum(var, 0.0, out=var), out=var)
        _ratio_ci_into(log_prr, se, cols["prr_lo"][part], cols["prr_hi"][part])
        big_n = float(n)
        den = n_p * (big_n - n_p) * n_e * (big_n - n_e)
        diff = np.abs(a_f * d_f - b_f * c_f)
        chi2 = _chi2_into(big_n, diff, den, cols["chi2"][part])
        diff -= n / 2.0
        yates = _chi2_into(big_n, np.maximum(diff, 0.0, out=diff), den, cols["chi2_yates"][part])
        prr = np.exp(log_prr, out=cols["prr"][part])
        used = yates if thresholds.chi2_yates else chi2
        flag = np.greater_equal(prr, thresholds.prr_min, out=cols["flag_evans"][part])
        flag &= used >= thresholds.chi2_min
        flag &= a >= thresholds.min_count
    if "ror" in chosen:
        log_ror = np.log(ah)
        log_ror += np.log(dh)
        log_ror -= np.log(bh)
        log_ror -= np.log(ch)
        var = 1 / ah
        var += 1 / bh
        var += 1 / ch
        var += 1 / dh
        lo = cols["ror_lo"][part]
        _ratio_ci_into(log_ror, np.sqrt(var, out=var), lo, cols["ror_hi"][part])
        np.exp(log_ror, out=cols["ror"][part])
        flag = np.greater(lo, thresholds.ror025_min, out=cols["flag_ror"][part])
        flag &= a >= thresholds.ror_min_count
    if "ic" in chosen:
        ic_lo = cols["ic025"][part]
        if ic_tables is not None:
            log2_e = np.log2(counts.expected[part] + 0.5)
            for table, name in zip(ic_tables, _IC_FLOATS, strict=True):
                np.subtract(table[a], log2_e, out=cols[name][part])
        else:
            values = _ic_bcpnn(a_f, n_p, n_e, float(n))
            for value, name in zip(values, _IC_FLOATS, strict=True):
                cols[name][part] = value
        np.greater(ic_lo, thresholds.ic025_min, out=cols["flag_ic"][part])


def _ratio_ci_into(log_ratio: FloatArray, se: FloatArray, lo: FloatArray, hi: FloatArray) -> None:
    """exp(log ratio -/+ 1.96 se) into ``lo`` and ``hi`` (``se`` is overwritten)."""
    se *= Z975
    np.exp(np.subtract(log_ratio, se, out=lo), out=lo)
    np.exp(np.add(log_ratio, se, out=hi), out=hi)


def _chi2_into(n: float, diff: FloatArray, den: FloatArray, out: FloatArray) -> FloatArray:
    """``n * diff**2 / den``, 0 where the margin product ``den`` is 0, into ``out``."""
    if bool(np.all(den > 0)):  # every margin filled: no case to set apart
        np.square(diff, out=out)
        out *= n
        out /= den
        return out
    positive = den > 0
    out[...] = np.where(positive, n * diff**2 / np.where(positive, den, 1.0), 0.0)
    return out


def _ebgm_columns(
    a: IntArray, expected: FloatArray, prior: GpsPrior | None, threads: int
) -> tuple[GpsPrior, FloatArray, FloatArray, FloatArray]:
    """The prior (fitted unless given) and EBGM, EB05, EB95 of every pair."""
    return gps.fit_and_shrink(a, expected, prior, threads=threads)


def _check_methods(methods: Sequence[Method]) -> tuple[Method, ...]:
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {ALL_METHODS}, got {methods}")
    return tuple(m for m in ALL_METHODS if m in methods)


def _assert_finite(table: pl.DataFrame, known: set[str] | frozenset[str] = frozenset()) -> None:
    """Raise if a float column holds NaN or infinity (``known``: columns already checked)."""
    floats = [c for c, t in table.schema.items() if t == pl.Float64 and c not in known]
    if not floats or table.height == 0:
        return
    # A sum is finite when every term is (NaN and infinities propagate); only a column
    # whose sum is not finite (or overflowed) is counted value by value.
    suspects = [c for c in floats if not np.isfinite(np.sum(table.get_column(c).to_numpy()))]
    if not suspects:
        return
    bad = table.select([(~pl.col(c).is_finite()).sum().alias(c) for c in suspects]).row(
        0, named=True
    )
    broken = {c: v for c, v in bad.items() if v}
    if broken:  # a bug, not bad input: every convention above keeps values finite
        raise ArithmeticError(f"non-finite values in disproportionality columns: {broken}")


def disproportionality(
    products: pl.DataFrame,
    events: pl.DataFrame,
    *,
    strata: pl.DataFrame | None = None,
    methods: Sequence[Method] = ALL_METHODS,
    min_count: int = 1,
    thresholds: SignalThresholds | None = None,
    prior: GpsPrior | None = None,
    ic_method: IcMethod = "noren",
    report_col: str = "report_id",
    product_col: str = "product",
    event_col: str = "event",
    stratum_col: str = "stratum",
) -> SignalResult:
    """PRR, ROR, IC and EBGM for every co-reported product-event pair.

    ``products`` (report_id, product) and ``events`` (report_id, event) are report-level;
    pass a subset of reports (e.g. a peer group) to get the same statistics within it.
    ``strata`` (report_id, stratum) stratifies E (IC and EBGM). ``prior`` reuses a GPS
    prior instead of fitting one. See the module docstring for every convention.
    """
    counts = count_pairs(
        products,
        events,
        strata=strata,
        report_col=report_col,
        product_col=product_col,
        event_col=event_col,
        stratum_col=stratum_col,
    )
    return compute_signals(
        counts,
        methods=methods,
        min_count=min_count,
        thresholds=thresholds,
        prior=prior,
        ic_method=ic_method,
    )


def disproportionality_from_counts(
    table: pl.DataFrame,
    *,
    product_col: str = "product",
    event_col: str = "event",
    count_col: str = "a",
    product_totals: pl.DataFrame | None = None,
    event_totals: pl.DataFrame | None = None,
    n_reports: int | None = None,
    methods: Sequence[Method] = ALL_METHODS,
    min_count: int = 1,
    thresholds: SignalThresholds | None = None,
    prior: GpsPrior | None = None,
    ic_method: IcMethod = "noren",
) -> SignalResult:
    """The same statistics from a ready contingency table (see :func:`pair_counts_from_table`)."""
    counts = pair_counts_from_table(
        table,
        product_col=product_col,
        event_col=event_col,
        count_col=count_col,
        product_totals=product_totals,
        event_totals=event_totals,
        n_reports=n_reports,
    )
    return compute_signals(
        counts,
        methods=methods,
        min_count=min_count,
        thresholds=thresholds,
        prior=prior,
        ic_method=ic_method,
    )


def for_product(result: SignalResult, product: object) -> pl.DataFrame:
    """The rows of one product, strongest first (an empty frame if it has no pair)."""
    rows = result.table.filter(pl.col("product") == product)
    order = [c for c in ("eb05", "ic025", "ror_lo", "prr", "a") if c in rows.columns]
    return rows.sort(order, descending=True) if order else rows
