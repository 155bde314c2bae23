"""Monthly report series, Mann-Kendall trend test with Sen's slope, serious/fatal shares.

Frame contract (what `cerflow.store.product_queries` produces and tests build by hand):

``reports`` -- one row per deduplicated report:

=====================  ==========  ===================================================
column                 dtype       meaning
=====================  ==========  ===================================================
report_id              Int64       unique key; rows are unique on it
received_date          Date        first day of the period the source gave; may be null
received_precision     Utf8        ``Y`` | ``M`` | ``D`` (null when the date is null)
serious                Boolean     null when the source does not say
death ... other_serious Boolean    seriousness criteria (FAERS) / derived (MAUDE)
event_type             Utf8        MAUDE ``death`` | ``injury`` | ``malfunction`` | null
source                 Utf8        ``faers`` | ``maude`` | ...
=====================  ==========  ===================================================

Only the columns a function needs must be present. ``events`` -- one row per (report, term):
``report_id`` Int64, ``term`` Utf8 (case-folded); duplicates are counted once per report.

Why year-only dates are kept out of the months: FAERS often gives only ``YYYY``; putting
those reports into January would plant a false January spike, so `date_coverage` counts
them (and undated reports) separately and the report states the number.

Mann-Kendall follows Hipel & McLeod (1994) / Gilbert (1987): tie-corrected variance,
continuity-corrected Z, two-sided normal p-value; Sen's slope is the median pairwise slope
and the intercept ``median(x) - slope * median(t)`` (the convention of pymannkendall, the
test oracle). Short or constant series give "no trend" with p = 1, never NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

Trend = Literal["increasing", "decreasing", "no trend"]

#: Seriousness criteria from most to least severe; `outcome` is the first one set.
OUTCOME_ORDER: tuple[str, ...] = (
    "death",
    "life_threatening",
    "hospitalization",
    "disability",
    "congenital_anomaly",
    "required_intervention",
    "other_serious",
)


@dataclass(frozen=True, slots=True)
class DateCoverage:
    """How many reports can be placed in a month, and how many cannot (and why)."""

    total: int
    monthly: int  # month or day precision: counted in the monthly series
    year_only: int  # year precision only: not put into any month
    undated: int  # no received date at all


@dataclass(frozen=True, slots=True)
class MannKendallResult:
    n: int
    s: float
    var_s: float
    z: float
    p: float
    tau: float
    trend: Trend
    sen_slope: float  # units of the series per step (reports per month)
    sen_intercept: float
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)
    # (1 - alpha) confidence interval of Sen's slope (Sen 1968; Gilbert 1987), same unit:
    # the change in the monthly count per month. None when fewer than 3 points.
    sen_lo: float | None = None
    sen_hi: float | None = None


#: The unit of Sen's slope of a monthly count series, as the report prints it.
SEN_UNIT = "change in the monthly count per month"


def _month_start(col: pl.Expr) -> pl.Expr:
    return col.dt.truncate("1mo")


def _month_range(start: dt.date, end: dt.date) -> list[dt.date]:
    months: list[dt.date] = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        months.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} frame lacks column(s) {', '.join(missing)}; it has {frame.columns} "
            "(see the frame contract in cerflow.analysis.trends)"
        )


def monthly_mask() -> pl.Expr:
    """Reports whose received date names a month (dated, not year-only): the only ones a
    monthly series may count, so a month is never invented from a year-only date."""
    precision = pl.col("received_precision").fill_null("D")
    return pl.col("received_date").is_not_null() & (precision != "Y")


def date_coverage(reports: pl.DataFrame) -> DateCoverage:
    """Count reports by what their received date lets us do with them."""
    _require(reports, ["received_date", "received_precision"], "reports")
    dated = reports.filter(pl.col("received_date").is_not_null())
    monthly = reports.filter(monthly_mask()).height
    return DateCoverage(
        total=reports.height,
        monthly=monthly,
        year_only=dated.height - monthly,
        undated=reports.height - dated.height,
    )


def outcome_label() -> pl.Expr:
    """Most severe outcome of a report; ``non_serious`` / ``unknown`` when none is set.

    A report flagged serious without any criterion is ``serious_unspecified``.
    """
    expr: pl.Expr = (
        pl.when(pl.col("serious").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col("serious"))
        .then(pl.lit("serious_unspecified"))
        .otherwise(pl.lit("non_serious"))
    )
    for name in reversed(OUTCOME_ORDER):
        expr = pl.when(pl.col(name).fill_null(False)).then(pl.lit(name)).otherwise(expr)
    return expr


def _group_expr(reports: pl.DataFrame, by: str) -> pl.Expr:
    if by == "outcome":
        _require(reports, ["serious", *OUTCOME_ORDER], "reports")
        return outcome_label()
    _require(reports, [by], "reports")
    if by == "serious":
        return (
            pl.when(pl.col("serious").is_null())
            .then(pl.lit("unknown"))
            .when(pl.col("serious"))
            .then(pl.lit("serious"))
            .otherwise(pl.lit("non_serious"))
        )
    return pl.col(by).cast(pl.Utf8).fill_null("unknown")


def monthly_counts(
    reports: pl.DataFrame,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: str | None = None,
) -> pl.DataFrame:
    """Reports per calendar month, zero-filled from `start` to `end` (inclusive months).

    Returns ``month`` (Date, first of month), optional ``by`` group (Utf8; nulls become
    ``unknown``; ``by="outcome"`` derives the most severe outcome, ``by="serious"`` gives
    serious / non_serious / unknown) and ``count`` (Int64). Without `start`/`end` the range
    is the first to the last month with data; no data and no range gives an empty frame.
    Year-only and undated reports are excluded (see `date_coverage`).
    """
    _require(reports, ["report_id", "received_date", "received_precision"], "reports")
    if start is not None and end is not None and start > end:
        raise ValueError(f"monthly_counts: start {start} is after end {end}")
    group_cols = [by] if by else []
    frame = reports.filter(monthly_mask()).unique("report_id")
    frame = frame.with_columns(_month_start(pl.col("received_date")).alias("month"))
    if by:
        frame = frame.with_columns(_group_expr(reports, by).alias(by))
    # Levels come from all dated reports, so a group quiet in the range still shows zeros.
    levels = sorted(frame[by].unique().to_list()) if by and frame.height else []
    if start is not None:
        frame = frame.filter(pl.col("month") >= dt.date(start.year, start.month, 1))
    if end is not None:
        frame = frame.filter(pl.col("month") <= dt.date(end.year, end.month, 1))
    lo = start or (frame["month"].min() if frame.height else None)
    hi = end or (frame["month"].max() if frame.height else None)
    schema: dict[str, pl.DataType] = {"month": pl.Date()}
    if by:
        schema[by] = pl.Utf8()
    schema["count"] = pl.Int64()
    if lo is None or hi is None:
        return pl.DataFrame(schema=schema)
    assert isinstance(lo, dt.date) and isinstance(hi, dt.date)
    grid = pl.DataFrame({"month": _month_range(lo, hi)}, schema={"month": pl.Date()})
    if by:
        grid = grid.join(pl.DataFrame({by: levels}, schema={by: pl.Utf8()}), how="cross")
    counts = frame.group_by(["month", *group_cols]).agg(pl.len().cast(pl.Int64).alias("count"))
    out = grid.join(counts, on=["month", *group_cols], how="left").with_columns(
        pl.col("count").fill_null(0)
    )
    return out.sort(["month", *group_cols]).select(list(schema))


def top_events(reports: pl.DataFrame, events: pl.DataFrame, *, n: int = 10) -> pl.DataFrame:
    """The `n` most reported terms: ``term``, ``reports`` (distinct), ``percent`` of reports.

    Ties are broken alphabetically so the list is reproducible. The percent base is the
    number of reports in `reports` (a report with several terms counts once per term).
    """
    _require(reports, ["report_id"], "reports")
    _require(events, ["report_id", "term"], "events")
    total = reports["report_id"].n_unique()
    schema = {"term": pl.Utf8(), "reports": pl.Int64(), "percent": pl.Float64()}
    if total == 0 or n <= 0:
        return pl.DataFrame(schema=schema)
    ids = reports.select("report_id").unique()
    counted = (
        events.select("report_id", "term")
        .unique()
        .join(ids, on="report_id", how="semi")
        .group_by("term")
        .agg(pl.len().cast(pl.Int64).alias("reports"))
        .with_columns((pl.col("reports") * 100.0 / total).alias("percent"))
        .sort(["reports", "term"], descending=[True, False])
        .head(n)
    )
    return counted.select(list(schema))


def monthly_event_counts(
    reports: pl.DataFrame,
    events: pl.DataFrame,
    *,
    terms: Sequence[str] | None = None,
    n: int = 5,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """Monthly zero-filled counts of reports mentioning each term (default: top `n` terms).

    Columns ``month``, ``term``, ``count``; a report counts once per term.
    """
    if terms is None:
        terms = top_events(reports, events, n=n)["term"].to_list()
    if not terms:
        return pl.DataFrame(schema={"month": pl.Date(), "term": pl.Utf8(), "count": pl.Int64()})
    if start is None or end is None:
        covered = reports.filter(monthly_mask())
        if covered.height:
            start = start or covered["received_date"].min()  # type: ignore[assignment]
            end = end or covered["received_date"].max()  # type: ignore[assignment]
    pairs = (
        events.select("report_id", "term")
        .filter(pl.col("term").is_in(list(terms)))
        .unique()
        .join(reports, on="report_id", how="inner")
        # One row per (report, term): make that the unit monthly_counts deduplicates on.
        .with_columns((pl.col("report_id").cast(pl.Utf8) + "|" + pl.col("term")).alias("report_id"))
    )
    out = monthly_counts(pairs, start=start, end=end, by="term")
    if start is not None and end is not None:
        months = _month_range(start, end)
    else:
        months = out["month"].unique().sort().to_list()
    # Terms with no dated report still get their zero rows.
    grid = pl.DataFrame({"month": months}, schema={"month": pl.Date()}).join(
        pl.DataFrame({"term": list(terms)}, schema={"term": pl.Utf8()}), how="cross"
    )
    return (
        grid.join(out, on=["month", "term"], how="left")
        .with_columns(pl.col("count").fill_null(0))
        .sort(["month", "term"])
    )


def serious_share(
    reports: pl.DataFrame,
    *,
    period: Literal["month", "year"] = "year",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """Share of serious and of fatal reports per period (zero-filled).

    Columns ``period`` (Date, first day), ``reports``, ``serious``, ``fatal``,
    ``serious_percent``, ``fatal_percent``. A period without reports has percent 0.0 (its
    ``reports`` is 0, so nothing is hidden); it is never NaN. Yearly periods include
    year-only dates; monthly periods exclude them (see module docstring).
    """
    _require(
        reports, ["report_id", "received_date", "received_precision", "serious", "death"], "reports"
    )
    frame = reports.unique("report_id")
    if period == "month":
        frame = frame.filter(monthly_mask()).with_columns(
            pl.col("received_date").dt.truncate("1mo").alias("period")
        )
    else:
        frame = frame.filter(pl.col("received_date").is_not_null()).with_columns(
            pl.date(pl.col("received_date").dt.year(), 1, 1).alias("period")
        )
    if start is not None:
        frame = frame.filter(pl.col("received_date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("received_date") <= end)
    schema = {
        "period": pl.Date(),
        "reports": pl.Int64(),
        "serious": pl.Int64(),
        "fatal": pl.Int64(),
        "serious_percent": pl.Float64(),
        "fatal_percent": pl.Float64(),
    }
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    lo: dt.date = frame["period"].min()  # type: ignore[assignment]
    hi: dt.date = frame["period"].max()  # type: ignore[assignment]
    if period == "month":
        periods = _month_range(lo, hi)
    else:
        periods = [dt.date(y, 1, 1) for y in range(lo.year, hi.year + 1)]
    agg = frame.group_by("period").agg(
        pl.len().cast(pl.Int64).alias("reports"),
        pl.col("serious").fill_null(False).sum().cast(pl.Int64).alias("serious"),
        pl.col("death").fill_null(False).sum().cast(pl.Int64).alias("fatal"),
    )
    out = (
        pl.DataFrame({"period": periods}, schema={"period": pl.Date()})
        .join(agg, on="period", how="left")
        .with_columns(pl.col("reports", "serious", "fatal").fill_null(0))
        .with_columns(
            pl.when(pl.col("reports") > 0)
            .then(pl.col(c) * 100.0 / pl.col("reports"))
            .otherwise(0.0)
            .alias(f"{c}_percent")
            for c in ("serious", "fatal")
        )
    )
    return out.select(list(schema)).sort("period")


def _tie_term(values: npt.NDArray[np.float64]) -> float:
    _, counts = np.unique(values, return_counts=True)
    counts = counts[counts > 1].astype(np.float64)
    return float(np.sum(counts * (counts - 1) * (2 * counts + 5)))


def sen_slope(values: Sequence[float] | npt.ArrayLike) -> tuple[float, float]:
    """Median pairwise slope and intercept; (0, median or 0) when fewer than 2 points."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return 0.0, 0.0
    if n < 2:
        return 0.0, float(x[0])
    i, j = np.triu_indices(n, k=1)
    slope = float(np.median((x[j] - x[i]) / (j - i)))
    intercept = float(np.median(x) - np.median(np.arange(n)) * slope)
    return slope, intercept


def mann_kendall(
    values: Sequence[float] | npt.ArrayLike, *, alpha: float = 0.05
) -> MannKendallResult:
    """Two-sided Mann-Kendall test with tie correction, plus Sen's slope.

    Raises ValueError for NaN/inf input (a series with gaps must be zero-filled or dropped
    by the caller, who knows which is right).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("mann_kendall: the series contains NaN or infinite values")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"mann_kendall: alpha must be in (0, 1), got {alpha}")
    n = x.size
    slope, intercept = sen_slope(x)
    notes: list[str] = []
    if n < 3:
        notes.append(f"{n} point(s): too few for a trend test (need at least 3)")
        return MannKendallResult(
            n, 0.0, 0.0, 0.0, 1.0, 0.0, "no trend", slope, intercept, alpha, notes
        )
    i, j = np.triu_indices(n, k=1)
    s = float(np.sum(np.sign(x[j] - x[i])))
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    if var_s <= 0.0:
        notes.append("constant series: no trend can be tested")
        return MannKendallResult(
            n, s, 0.0, 0.0, 1.0, 0.0, "no trend", slope, intercept, alpha, notes
        )
    if s > 0:
        z = (s - 1.0) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1.0) / math.sqrt(var_s)
    else:
        z = 0.0
    # scipy is imported here, its one use: importing it costs seconds, and the API imports
    # this module at start-up (products.service) without testing a trend yet.
    from scipy import stats

    p = float(2.0 * stats.norm.sf(abs(z)))
    tau = s / (0.5 * n * (n - 1))
    trend: Trend = "no trend"
    if p < alpha:
        trend = "increasing" if z > 0 else "decreasing"
    if n < 10:
        notes.append(f"only {n} points: the normal approximation is rough below 10")
    lo, hi = sen_slope_ci(x, alpha=alpha)
    return MannKendallResult(n, s, var_s, z, p, tau, trend, slope, intercept, alpha, notes, lo, hi)


def sen_slope_ci(
    values: Sequence[float] | npt.ArrayLike, *, alpha: float = 0.05
) -> tuple[float | None, float | None]:
    """Two-sided (1 - alpha) confidence interval of Sen's slope of an evenly spaced series.

    Notes
    -----
    Sen (1968), eq. 2.6, as in Gilbert (1987) ch. 16.5 and ``scipy.stats.theilslopes``
    (the test oracle): with the N pairwise slopes sorted and
    ``C = z_{1-alpha/2} * sqrt(Var S)`` (Var S tie-corrected over the values), the bounds
    are the slopes of rank ``round((N - C) / 2)`` and ``round((N + C) / 2) + 1``
    (1-based), clamped to the range. None, None for fewer than 3 points.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    if n < 3:
        return None, None
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"sen_slope_ci: alpha must be in (0, 1), got {alpha}")
    from scipy import stats

    i, j = np.triu_indices(n, k=1)
    slopes = np.sort((x[j] - x[i]) / (j - i))
    nt = slopes.size
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    c = float(stats.norm.ppf(1.0 - alpha / 2.0)) * math.sqrt(max(var_s, 0.0))
    lower = max(int(np.round((nt - c) / 2.0)) - 1, 0)
    upper = min(int(np.round((nt + c) / 2.0)), nt - 1)
    return float(slopes[lower]), float(slopes[upper])
