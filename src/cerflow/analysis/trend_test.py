"""Mann-Kendall trend test and Sen's slope in pure Python, for the product page.

Why a second implementation beside `cerflow.analysis.trends.mann_kendall`: the API computes
the product detail in its own worker, and importing NumPy, Polars and SciPy for one test
on a monthly series of a few hundred points at most grew each worker by about 100 MB
(issue 17 goal 6: under 200 MB RSS per worker). Here the O(n^2) pairs of a 300-month
series are 45,000 subtractions, a few milliseconds. The report keeps the NumPy version
(it also needs the slope's confidence interval); the tests check this one against it.

Same conventions as `trends.mann_kendall` (Hipel & McLeod 1994, Gilbert 1987):
tie-corrected variance, continuity-corrected Z, two-sided normal p-value
``erfc(|z| / sqrt 2)`` (= ``2 * norm.sf(|z|)``), Sen's slope the median pairwise slope
and the intercept ``median(x) - slope * median(t)``; short or constant series give
"no trend" with p = 1, with the same notes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

Trend = Literal["increasing", "decreasing", "no trend"]


@dataclass(frozen=True, slots=True)
class SmallTrendResult:
    n: int
    s: float
    var_s: float
    z: float
    p: float
    trend: Trend
    sen_slope: float
    sen_intercept: float
    notes: list[str] = field(default_factory=list)


def sen_slope(values: Sequence[float]) -> tuple[float, float]:
    """Median pairwise slope and intercept; (0, the value or 0) below 2 points."""
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        return 0.0, 0.0
    if n < 2:
        return 0.0, x[0]
    slopes = [(x[j] - x[i]) / (j - i) for i in range(n - 1) for j in range(i + 1, n)]
    slope = float(median(slopes))
    return slope, float(median(x)) - float(median(range(n))) * slope


def mann_kendall(values: Sequence[float], *, alpha: float = 0.05) -> SmallTrendResult:
    """Two-sided Mann-Kendall test with tie correction, plus Sen's slope.

    Raises ValueError for NaN/inf input or an alpha outside (0, 1), as the NumPy version.
    """
    x = [float(v) for v in values]
    if not all(math.isfinite(v) for v in x):
        raise ValueError("mann_kendall: the series contains NaN or infinite values")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"mann_kendall: alpha must be in (0, 1), got {alpha}")
    n = len(x)
    slope, intercept = sen_slope(x)
    notes: list[str] = []
    if n < 3:
        notes.append(f"{n} point(s): too few for a trend test (need at least 3)")
        return SmallTrendResult(n, 0.0, 0.0, 0.0, 1.0, "no trend", slope, intercept, notes)
    s = 0
    for i in range(n - 1):
        xi = x[i]
        for xj in x[i + 1 :]:
            s += (xj > xi) - (xj < xi)
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(x).values() if t > 1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    if var_s <= 0.0:
        notes.append("constant series: no trend can be tested")
        return SmallTrendResult(n, float(s), 0.0, 0.0, 1.0, "no trend", slope, intercept, notes)
    if s > 0:
        z = (s - 1.0) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1.0) / math.sqrt(var_s)
    else:
        z = 0.0
    p = math.erfc(abs(z) / math.sqrt(2.0))
    trend: Trend = "no trend"
    if p < alpha:
        trend = "increasing" if z > 0 else "decreasing"
    if n < 10:
        notes.append(f"only {n} points: the normal approximation is rough below 10")
    return SmallTrendResult(n, float(s), var_s, z, p, trend, slope, intercept, notes)
