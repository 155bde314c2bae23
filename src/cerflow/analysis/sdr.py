"""Signals of disproportionate reporting (SDR) from one product's all-pairs results.

    criteria = SdrCriteria.from_settings(settings)
    refusal = background_refusal(n_background, n_product, criteria=criteria)
    sel = select_sdrs(for_product(result, label), n_product=n_product, criteria=criteria)

The disproportionality module computes PRR, ROR, IC and EBGM for every pair; this module
decides which pairs a reviewer should see as SDRs, so that the conclusions stay within what
the numbers support:

* **One minimum case count** (``min_cases``, the setting ``signal_min_count``) for every
  method: a pair with fewer reports of the product and the event is never an SDR.
* **No background reports** (``c = 0``): no other product of the background has the event.
  Every ratio of such a table exists only through the 0.5 (Haldane-Anscombe) correction, so
  the pair is never ranked, flagged or plotted by a ratio; it is listed apart.
* **Lack of efficacy** ("Drug ineffective" ...; :data:`LACK_OF_EFFICACY_TERMS`) is a finding
  of its own, not an adverse event: listed apart, never an SDR.
* **Primary criterion**: a shrunk measure. ``EB05 >= eb05_min`` when EBGM is available
  (an all-pairs GPS prior exists), else ``IC025 > ic025_min``. SDRs are ranked by it.
* **False discovery control** beside it: the one-sided mid-p Fisher exact test of each
  eligible pair (``a >= min_cases``, ``c > 0``, not lack of efficacy; the family is these
  pairs), Benjamini-Hochberg at ``fdr_q``.
* **Descriptive only**: a product with fewer than ``min_product_reports`` reports gets no
  SDR at all (the ratios of a handful of reports are noise).
* **Refused background** (:func:`background_refusal`): a background with fewer than
  ``background_min_reports`` reports, or in which the product holds more than
  ``background_max_product_share`` of the reports, describes nothing the product is
  compared with; ratios are not computed against it. It is a function of the two counts
  alone, so it applies to any background (the local store or openFDA whole-database counts).

References
----------
Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B. 1995;57:289-300.
Lancaster HO. Significance tests in discrete distributions. JASA. 1961;56:223-234 (mid-p).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats

PrimaryCriterion = Literal["EB05", "IC025"]
Status = Literal["new", "ongoing", "closed"]

# MedDRA PTs (lower case) that describe a failure of the product to work, not an adverse
# event of it. Kept small and explicit, most common first: the report prints the list.
LACK_OF_EFFICACY_LIST: tuple[str, ...] = (
    "drug ineffective",
    "drug effect decreased",
    "therapeutic response decreased",
    "therapeutic product effect decreased",
    "drug ineffective for unapproved indication",
    "drug effect incomplete",
    "drug effect delayed",
    "drug effect less than expected",
    "therapeutic response delayed",
    "therapeutic product ineffective",
    "therapeutic product effect incomplete",
    "treatment failure",
    "therapy non-responder",
    "therapy partial responder",
    "lack of efficacy",
    "no therapeutic response",
    "device ineffective",
)
LACK_OF_EFFICACY_TERMS: frozenset[str] = frozenset(LACK_OF_EFFICACY_LIST)


def is_lack_of_efficacy(term: str) -> bool:
    """True for a lack-of-efficacy term (case and surrounding space ignored)."""
    return " ".join(term.split()).lower() in LACK_OF_EFFICACY_TERMS


@dataclass(frozen=True)
class SdrCriteria:
    """The rules that make a pair an SDR (see the module docstring)."""

    min_cases: int = 3
    eb05_min: float = 2.0
    ic025_min: float = 0.0
    fdr_q: float = 0.05
    min_product_reports: int = 50
    background_min_reports: int = 1000
    background_max_product_share: float = 0.2

    def __post_init__(self) -> None:
        if self.min_cases < 1:
            raise ValueError(f"min_cases must be at least 1, got {self.min_cases}")
        if not 0.0 < self.fdr_q < 1.0:
            raise ValueError(f"fdr_q must be between 0 and 1 (exclusive), got {self.fdr_q}")
        if self.min_product_reports < 0 or self.background_min_reports < 0:
            raise ValueError("min_product_reports and background_min_reports must be >= 0")
        if not 0.0 < self.background_max_product_share <= 1.0:
            raise ValueError(
                "background_max_product_share must be in (0, 1], got "
                f"{self.background_max_product_share}"
            )

    @classmethod
    def from_settings(cls, settings: Any) -> SdrCriteria:
        """From ``Settings``: ``signal_min_count``, ``signal_eb05_min``, ``signal_ic025_min``,
        ``signal_fdr_q``, ``signal_min_product_reports``, ``background_min_reports`` and
        ``background_max_product_share``."""
        return cls(
            min_cases=int(settings.signal_min_count),
            eb05_min=float(settings.signal_eb05_min),
            ic025_min=float(settings.signal_ic025_min),
            fdr_q=float(settings.signal_fdr_q),
            min_product_reports=int(settings.signal_min_product_reports),
            background_min_reports=int(settings.background_min_reports),
            background_max_product_share=float(settings.background_max_product_share),
        )


def background_refusal(
    background_reports: int, product_reports: int, *, criteria: SdrCriteria
) -> str | None:
    """Why ratios must not be computed against this background, or None when they may.

    A function of the background's N and the product's n_P only, so it applies the same
    way to the local store and to openFDA whole-database counts.
    """
    reasons = []
    if background_reports < criteria.background_min_reports:
        reasons.append(
            f"the background holds {background_reports:,} reports, fewer than the "
            f"{criteria.background_min_reports:,} required (setting background_min_reports)"
        )
    share = product_reports / background_reports if background_reports else 1.0
    if share > criteria.background_max_product_share:
        reasons.append(
            f"the product accounts for {100 * share:.1f}% of the background's reports, more "
            f"than the {100 * criteria.background_max_product_share:.1f}% allowed (setting "
            "background_max_product_share): the other cells of each two-by-two table describe "
            "too little besides the product"
        )
    return "; ".join(reasons) or None


def mid_p_fisher(
    a: NDArray[np.int64] | Iterable[int],
    b: NDArray[np.int64] | Iterable[int],
    c: NDArray[np.int64] | Iterable[int],
    d: NDArray[np.int64] | Iterable[int],
) -> NDArray[np.float64]:
    """One-sided (excess reporting) mid-p of Fisher's exact test for 2x2 tables.

    With the margins fixed, ``a`` is hypergeometric (population ``N = a+b+c+d``, ``a+b``
    product reports, ``a+c`` draws); mid-p = P(A > a) + P(A = a) / 2.
    """
    a_ = np.asarray(a, dtype=np.int64)
    b_ = np.asarray(b, dtype=np.int64)
    c_ = np.asarray(c, dtype=np.int64)
    d_ = np.asarray(d, dtype=np.int64)
    n = a_ + b_ + c_ + d_
    n_p = a_ + b_
    n_e = a_ + c_
    sf = stats.hypergeom.sf(a_, n, n_p, n_e)
    pmf = stats.hypergeom.pmf(a_, n, n_p, n_e)
    return np.clip(np.asarray(sf + 0.5 * pmf, dtype=np.float64), 0.0, 1.0)


def benjamini_hochberg(
    p: NDArray[np.float64] | Iterable[float], q: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """(rejected, adjusted p) by Benjamini-Hochberg's step-up rule at level ``q``."""
    pv = np.asarray(p, dtype=np.float64)
    m = pv.size
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    adj_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adj_sorted
    below = np.flatnonzero(pv[order] <= q * np.arange(1, m + 1) / m)
    rejected = np.zeros(m, dtype=bool)
    if below.size:
        rejected[order[: below[-1] + 1]] = True
    return rejected, adjusted


@dataclass(frozen=True)
class SdrSelection:
    """One product's pairs sorted into what the report shows.

    ``table``: the product's rows with added columns ``zero_background`` (c = 0),
    ``lack_of_efficacy``, ``eligible``, ``mid_p``, ``fdr_p`` (BH-adjusted; null when not
    eligible), ``fdr_significant``, ``primary`` (the primary measure) and ``sdr``.
    ``sdrs`` are the SDRs ranked by the primary measure (then a, then event);
    ``fdr_list`` the BH-significant eligible pairs by mid-p; ``zero_background`` and
    ``lack_of_efficacy`` the pairs listed apart (by a).
    """

    table: pl.DataFrame
    primary: PrimaryCriterion
    primary_threshold: float
    tests: int  # the BH family: eligible pairs
    sdrs: pl.DataFrame
    fdr_list: pl.DataFrame
    zero_background: pl.DataFrame
    lack_of_efficacy: pl.DataFrame
    descriptive_only: bool = False
    descriptive_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def select_sdrs(
    rows: pl.DataFrame,
    *,
    n_product: int,
    criteria: SdrCriteria,
    event_col: str = "event",
) -> SdrSelection:
    """SDRs, the FDR list and the pairs listed apart, for one product's rows.

    ``rows``: one product's rows of a :class:`~cerflow.analysis.disproportionality.
    SignalResult` table (columns a, b, c, d and eb05 or ic025). ``n_product``: the
    product's reports in the background (for the descriptive-only rule).
    """
    for col in ("a", "b", "c", "d", event_col):
        if col not in rows.columns:
            raise ValueError(f"rows lack column {col!r}; pass a disproportionality table")
    if "eb05" in rows.columns:
        primary: PrimaryCriterion = "EB05"
        threshold = criteria.eb05_min
        measure = pl.col("eb05")
        meets = measure >= threshold
    elif "ic025" in rows.columns:
        primary = "IC025"
        threshold = criteria.ic025_min
        measure = pl.col("ic025")
        meets = measure > threshold
    else:
        raise ValueError("rows carry neither eb05 nor ic025: no shrunk measure to rank by")
    loe = [is_lack_of_efficacy(str(t)) for t in rows.get_column(event_col).to_list()]
    table = rows.with_columns(
        (pl.col("c") == 0).alias("zero_background"),
        pl.Series("lack_of_efficacy", loe, dtype=pl.Boolean),
        measure.alias("primary"),
    ).with_columns(
        (
            (pl.col("a") >= criteria.min_cases)
            & ~pl.col("zero_background")
            & ~pl.col("lack_of_efficacy")
        ).alias("eligible")
    )
    descriptive_reason = None
    if n_product < criteria.min_product_reports:
        descriptive_reason = (
            f"the product has {n_product:,} {'report' if n_product == 1 else 'reports'} in the "
            f"background, fewer than the {criteria.min_product_reports:,} required for "
            "disproportionality (setting signal_min_product_reports): descriptive results only"
        )
    mid_p = mid_p_fisher(
        table["a"].to_numpy(), table["b"].to_numpy(), table["c"].to_numpy(), table["d"].to_numpy()
    )
    eligible = table["eligible"].to_numpy()
    if descriptive_reason is not None:
        eligible = np.zeros(table.height, dtype=bool)
    rejected, adjusted = benjamini_hochberg(mid_p[eligible], criteria.fdr_q)
    fdr_p = np.full(table.height, np.nan)
    fdr_p[eligible] = adjusted
    sig = np.zeros(table.height, dtype=bool)
    sig[eligible] = rejected
    table = table.with_columns(
        pl.Series("mid_p", mid_p),
        pl.Series("fdr_p", fdr_p).fill_nan(None),
        pl.Series("fdr_significant", sig),
        pl.Series("eligible", eligible),
    ).with_columns((pl.col("eligible") & meets.fill_null(False)).alias("sdr"))
    sdrs = table.filter(pl.col("sdr")).sort(
        ["primary", "a", event_col], descending=[True, True, False]
    )
    fdr_list = table.filter(pl.col("fdr_significant")).sort(
        ["mid_p", "a", event_col], descending=[False, True, False]
    )
    by_a = ["a", event_col]
    zero = table.filter(pl.col("zero_background") & ~pl.col("lack_of_efficacy")).sort(
        by_a, descending=[True, False]
    )
    lack = table.filter(pl.col("lack_of_efficacy")).sort(by_a, descending=[True, False])
    return SdrSelection(
        table=table,
        primary=primary,
        primary_threshold=threshold,
        tests=int(eligible.sum()),
        sdrs=sdrs,
        fdr_list=fdr_list,
        zero_background=zero,
        lack_of_efficacy=lack,
        descriptive_only=descriptive_reason is not None,
        descriptive_reason=descriptive_reason,
    )


@dataclass(frozen=True)
class StatusRow:
    event: str
    status: Status
    first_detected: dt.date | None


def signal_status(
    current: Iterable[str],
    previous: Mapping[str, dt.date | None] | None,
    *,
    detected_on: dt.date | None,
) -> list[StatusRow]:
    """ICH E2C(R2) status of each SDR against the previous report of the same product.

    ``current``: this report's SDR events; ``previous``: the previous report's SDR events
    and their first-detected dates (None: no previous report, every SDR is new).
    A current SDR that was in the previous report is ``ongoing`` (its first-detected date
    carried over), otherwise ``new`` (detected on ``detected_on``, this report's data
    cut-off); a previous SDR that is no longer one is ``closed``. Events are matched case-
    and space-insensitively.
    """

    def key(e: str) -> str:
        return " ".join(e.split()).lower()

    prev = {key(e): (e, d) for e, d in (previous or {}).items()}
    out: list[StatusRow] = []
    seen: set[str] = set()
    for event in current:
        k = key(event)
        seen.add(k)
        if k in prev:
            out.append(StatusRow(event, "ongoing", prev[k][1] or detected_on))
        else:
            out.append(StatusRow(event, "new", detected_on))
    for k, (event, first) in prev.items():
        if k not in seen:
            out.append(StatusRow(event, "closed", first))
    return out
