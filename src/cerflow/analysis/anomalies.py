"""Months above control limits, and change points, in a monthly count series.

Control limits: every month with enough history is compared with its trailing baseline
(the `window` months before it, not including it). The baseline is described as Poisson
or, when overdispersed, negative binomial, and widened for the uncertainty of its own mean
(`count_distribution`, predictive distribution). The upper control limit (UCL) is the
smallest count ``c`` with ``P(X > c) <= tail``. A month is flagged when ``observed > UCL``
-- equivalently its p-value ``P(X >= observed) <= tail`` -- and it has at least
`min_observed` reports. The default tail 0.00135 is the one-sided tail of a 3-sigma
Shewhart limit. Simulated false alarms (60 months, 200 seeds, any flag in a series):
about 5% for Poisson(10) series, about 30% for strongly overdispersed series (variance 3x
the mean) -- twelve months cannot pin down a heavy tail, so a flag asks for review.
Months whose baseline has no report at all are not evaluated (a zero rate would flag any
first report) and are counted in ``skipped``. Flagged months stay in later baselines, so a
lasting step up is flagged at its start and then absorbed rather than flagged forever.

Change points: ruptures PELT with the l2 cost on the Anscombe-transformed series
``2 sqrt(x + 3/8)`` (variance ~1 for Poisson counts) and minimum segment `min_size`.
Penalty ``beta = penalty_factor * sigma^2 * ln(n)`` where ``sigma^2`` is the larger of 1
(the Poisson variance on that scale) and a robust estimate from the first differences
(``(1.4826 MAD / sqrt 2)^2``), so overdispersion raises the bar. The default factor 3 is
above the BIC/SIC value 2: in simulation (60 months, 200 seeds) it cut false change points
in stable Poisson(10) series from 10% to 1.5% while still finding a 10 -> 16 step
(within 2 months) in 85%. Each change point reports its gain (the drop in cost from
splitting its two neighbouring segments) next to the penalty it had to beat.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from cerflow.analysis.count_distribution import fit_counts

Array = npt.NDArray[np.float64]
SHEWHART_TAIL = 0.00135
OUTLIER_Z = 3.5
OUTLIER_WINDOW = 5


@dataclass(frozen=True, slots=True)
class AnomalyFlag:
    month: str  # YYYY-MM
    observed: int
    expected: float  # baseline mean
    threshold: float  # upper control limit (a count)
    p_value: float  # P(X >= observed) under the baseline distribution
    distribution: str  # poisson | negative_binomial
    baseline_start: str
    baseline_end: str
    baseline_months: int
    baseline_variance: float  # variance behind the limit (predictive)
    dispersion_p: float  # overdispersion test p-value of the baseline


@dataclass(frozen=True, slots=True)
class ChangePoint:
    month: str  # first month of the new segment
    index: int  # position of that month in the series
    mean_before: float
    mean_after: float
    gain: float  # cost reduction of the split (transformed scale)
    penalty: float  # what the gain had to exceed


@dataclass(frozen=True, slots=True)
class OutlierMonth:
    """A month far from its neighbours: a one-off spike (or drop), not a level shift."""

    month: str  # YYYY-MM
    index: int
    observed: int
    local_median: float  # centred rolling median of the months around it
    robust_z: float  # (observed - local median) / robust scale


@dataclass(frozen=True, slots=True)
class Anomalies:
    flags: list[AnomalyFlag]
    change_points: list[ChangePoint]
    evaluated: int  # months compared with a baseline
    skipped: int  # months with too short or all-zero baseline
    tail: float
    window: int
    penalty: float
    notes: list[str] = field(default_factory=list)
    outliers: list[OutlierMonth] = field(default_factory=list)  # isolated spikes/drops
    min_size: int = 3  # minimum change-point segment (months) that was used


def _months(first: dt.date | None, n: int) -> list[str]:
    if first is None:
        return [f"#{i}" for i in range(n)]
    out: list[str] = []
    y, m = first.year, first.month
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _as_series(
    series: pl.DataFrame | Sequence[float], first_month: dt.date | None
) -> tuple[Array, list[str]]:
    if isinstance(series, pl.DataFrame):
        missing = {"month", "count"} - set(series.columns)
        if missing:
            raise ValueError(
                f"anomalies: the series frame needs columns month and count, has "
                f"{series.columns} (use cerflow.analysis.trends.monthly_counts)"
            )
        frame = series.sort("month")
        if frame["month"].n_unique() != frame.height:
            raise ValueError("anomalies: duplicate months; pass one series (filter `by` first)")
        y = np.asarray(frame["count"].cast(pl.Float64).to_numpy(), dtype=np.float64)
        first = frame["month"].min() if frame.height else None
        assert first is None or isinstance(first, dt.date)
    else:
        y = np.asarray(series, dtype=np.float64).ravel()
        first = first_month
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ValueError("anomalies: counts must be finite and non-negative")
    return y, _months(first, y.size)


def control_limit_flags(
    y: Array,
    months: Sequence[str],
    *,
    window: int = 12,
    min_baseline: int = 6,
    tail: float = SHEWHART_TAIL,
    min_observed: int = 3,
) -> tuple[list[AnomalyFlag], int, int]:
    """Flags, months evaluated, months skipped (see module docstring)."""
    if not 0.0 < tail < 0.5:
        raise ValueError(f"anomalies: tail must be in (0, 0.5), got {tail}")
    if min_baseline < 2 or window < min_baseline:
        raise ValueError("anomalies: need 2 <= min_baseline <= window")
    flags: list[AnomalyFlag] = []
    evaluated = skipped = 0
    for t in range(y.size):
        lo = max(0, t - window)
        base = y[lo:t]
        if base.size < min_baseline or not np.any(base):
            if t >= min_baseline:
                skipped += 1
            continue
        evaluated += 1
        dist = fit_counts(base).predictive()
        ucl = dist.ppf(1.0 - tail)
        obs = float(y[t])
        if obs > ucl and obs >= min_observed:
            flags.append(
                AnomalyFlag(
                    month=months[t],
                    observed=int(obs),
                    expected=round(dist.mean, 4),
                    threshold=ucl,
                    p_value=dist.sf(obs - 1.0),
                    distribution=dist.name,
                    baseline_start=months[lo],
                    baseline_end=months[t - 1],
                    baseline_months=int(base.size),
                    baseline_variance=round(dist.variance, 4),
                    dispersion_p=dist.dispersion_p,
                )
            )
    return flags, evaluated, skipped


def _sse(z: Array) -> float:
    return float(np.sum((z - z.mean()) ** 2)) if z.size else 0.0


def change_points(
    y: Array,
    months: Sequence[str],
    *,
    min_size: int = 3,
    penalty_factor: float = 3.0,
) -> tuple[list[ChangePoint], float]:
    """PELT change points in the mean of the Anscombe-transformed series, and the penalty."""
    n = y.size
    if n < 2 * min_size or not np.any(y) or np.all(y == y[0]):
        return [], 0.0
    import ruptures as rpt

    z = 2.0 * np.sqrt(y + 0.375)
    diffs = np.diff(z)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma2 = max(1.0, (1.4826 * mad / math.sqrt(2.0)) ** 2)
    penalty = penalty_factor * sigma2 * math.log(n)
    algo = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(z.reshape(-1, 1))
    ends = [int(b) for b in algo.predict(pen=penalty)]
    bounds = [0, *ends]
    points: list[ChangePoint] = []
    for k in range(1, len(bounds) - 1):
        a, cp, b = bounds[k - 1], bounds[k], bounds[k + 1]
        gain = _sse(z[a:b]) - _sse(z[a:cp]) - _sse(z[cp:b])
        points.append(
            ChangePoint(
                month=months[cp],
                index=cp,
                mean_before=round(float(y[a:cp].mean()), 4),
                mean_after=round(float(y[cp:b].mean()), 4),
                gain=round(gain, 4),
                penalty=round(penalty, 4),
            )
        )
    return points, penalty


def detect_anomalies(
    series: pl.DataFrame | Sequence[float],
    *,
    first_month: dt.date | None = None,
    window: int = 12,
    min_baseline: int = 6,
    tail: float = SHEWHART_TAIL,
    min_observed: int = 3,
    min_size: int = 3,
    penalty_factor: float = 3.0,
    outlier_z: float | None = None,
    outlier_window: int = OUTLIER_WINDOW,
) -> Anomalies:
    """Control-limit flags and change points for a zero-filled monthly series.

    `series` is a `monthly_counts` frame (``month``, ``count``) or a plain sequence whose
    first month is `first_month`. With `outlier_z`, isolated outlier months
    (`robust_outliers`) are reported apart and replaced by their local median before the
    change-point search, so a one-month spike is an outlier and never a level shift; the
    segment means of the change points are then those of the cleaned series.
    """
    y, months = _as_series(series, first_month)
    notes: list[str] = []
    outliers: list[OutlierMonth] = []
    y_cp = y
    if outlier_z is not None:
        outliers, y_cp = robust_outliers(
            y, months, z=outlier_z, window=outlier_window, min_observed=min_observed
        )
    flags, evaluated, skipped = control_limit_flags(
        y,
        months,
        window=window,
        min_baseline=min_baseline,
        tail=tail,
        min_observed=min_observed,
    )
    if evaluated == 0:
        notes.append(
            f"no month could be compared with a baseline (need {min_baseline} earlier "
            "months with at least one report)"
        )
    cps, penalty = change_points(y_cp, months, min_size=min_size, penalty_factor=penalty_factor)
    if y.size < 2 * min_size:
        notes.append(f"change points need at least {2 * min_size} months")
    return Anomalies(
        flags,
        cps,
        evaluated,
        skipped,
        tail,
        window,
        round(penalty, 4),
        notes,
        outliers,
        min_size,
    )


def robust_outliers(
    y: Sequence[float] | npt.ArrayLike,
    months: Sequence[str] | None = None,
    *,
    z: float = OUTLIER_Z,
    window: int = OUTLIER_WINDOW,
    min_observed: int = 3,
) -> tuple[list[OutlierMonth], Array]:
    """Isolated outlier months, and the series with each replaced by its local median.

    On the Anscombe scale ``2 sqrt(x + 3/8)`` (variance about 1 for Poisson counts, the
    scale of the change-point search), a month is compared with the median of the
    ``window // 2 + 1`` months before it and with that of the months after it; it is an
    outlier only when it lies beyond `z` robust standard deviations from both, on the same
    side (from the one side there is, at the ends of the series). So a spike of up to
    ``window // 2`` months is an outlier, while a month at the edge of a lasting step, which
    agrees with one side, is not. The robust scale is the larger of ``1.4826 * MAD`` of the
    residuals from a centred rolling median of `window` months and 1 (the Poisson floor),
    so a quiet series does not turn every wobble into an outlier and an overdispersed one
    needs a larger excursion. An upward outlier must also have at least `min_observed`
    reports. The default z = 3.5 is the modified-z cut-off of Iglewicz and Hoaglin (1993).
    The local median (the replacement value) is the median count of those neighbours.
    """
    x = np.asarray(y, dtype=np.float64).ravel()
    n = x.size
    labels = list(months) if months is not None else _months(None, n)
    if window < 3 or window % 2 == 0:
        raise ValueError(f"robust_outliers: window must be odd and >= 3, got {window}")
    if z <= 0:
        raise ValueError(f"robust_outliers: z must be positive, got {z}")
    if n < window:
        return [], x.copy()
    half = window // 2
    zx = 2.0 * np.sqrt(x + 0.375)
    zmed = np.empty(n, dtype=np.float64)  # centred rolling median (transformed scale)
    for t in range(n):
        lo, hi = max(0, t - half), min(n, t + half + 1)
        if hi - lo < window:  # keep a full window at the ends
            lo, hi = (0, window) if lo == 0 else (n - window, n)
        zmed[t] = float(np.median(zx[lo:hi]))
    resid = zx - zmed
    mad = float(np.median(np.abs(resid - np.median(resid))))
    scale = max(1.4826 * mad, 1.0)
    side = half + 1
    med = np.empty(n, dtype=np.float64)
    rz = np.zeros(n, dtype=np.float64)
    for t in range(n):
        left, right = zx[max(0, t - side) : t], zx[t + 1 : t + 1 + side]
        # Isolated: far from the months before it AND from the months after it (one side
        # at the ends), so a month at the edge of a lasting step, which agrees with one
        # side, is never an outlier.
        zs = [(zx[t] - float(np.median(s))) / scale for s in (left, right) if s.size]
        med[t] = float(
            np.median(np.concatenate([x[max(0, t - side) : t], x[t + 1 : t + 1 + side]]))
        )
        if all(v > 0 for v in zs) or all(v < 0 for v in zs):
            rz[t] = min(zs, key=abs)
    cleaned = x.copy()
    out: list[OutlierMonth] = []
    for t in range(n):
        if abs(rz[t]) <= z or (rz[t] > 0 and x[t] < min_observed):
            continue
        cleaned[t] = med[t]
        out.append(
            OutlierMonth(
                month=labels[t],
                index=t,
                observed=int(x[t]),
                local_median=round(float(med[t]), 4),
                robust_z=round(float(rz[t]), 4),
            )
        )
    return out, cleaned
