"""Poisson or negative-binomial model of a window of monthly counts, chosen by dispersion.

Why: report counts are often overdispersed (clusters of reports, litigation waves); a
Poisson limit then flags ordinary months. A window whose sample variance exceeds its mean
is modelled as negative binomial fitted by the method of moments
(``r = xbar^2 / (s^2 - xbar)``), otherwise as Poisson. The classical dispersion test
(``(k - 1) s^2 / xbar ~ chi2(k - 1)`` under Poisson, Cochran 1954) is reported with it,
but does not decide: on 12 months it has little power, and in simulation (null
negative-binomial series, mean 10, variance 30) choosing by the test at 5% doubled the
false alarms of the control limits.

`predictive()` widens the distribution for the uncertainty of the window mean itself
(variance times ``1 + 1/k``, the Poisson-gamma predictive for a Poisson window), so a
limit from 12 months is not treated as if the rate were known. Shared by `anomalies`
(control limits) and `forecast` (intervals of the count fallbacks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

DistributionName = Literal["poisson", "negative_binomial"]


@dataclass(frozen=True, slots=True)
class CountDistribution:
    name: DistributionName  # what the window looks like
    mean: float
    variance: float  # variance used for quantiles (== mean for a plain Poisson)
    size: float | None  # negative-binomial r; None means Poisson(mean)
    dispersion_p: float  # p-value of the overdispersion test (1.0 when not testable)
    n: int = 0  # months in the window

    def _frozen(self) -> stats.rv_discrete | None:
        if self.mean <= 0.0:
            return None
        if self.size is not None:
            return stats.nbinom(self.size, self.size / (self.size + self.mean))
        return stats.poisson(self.mean)

    def ppf(self, q: float) -> float:
        """Smallest count c with P(X <= c) >= q (0 for a zero-mean window)."""
        dist = self._frozen()
        return 0.0 if dist is None else float(dist.ppf(q))

    def sf(self, x: float) -> float:
        """P(X > x)."""
        dist = self._frozen()
        if dist is None:
            return 0.0 if x >= 0 else 1.0
        return float(dist.sf(x))

    def at_rate(self, rate: float) -> CountDistribution:
        """Same variance-to-mean ratio at another mean (forecast of a changed level)."""
        ratio = self.variance / self.mean if self.mean > 0 else 1.0
        return _with_moments(self, rate, rate * ratio)

    def predictive(self) -> CountDistribution:
        """Include the uncertainty of the window mean: variance x (1 + 1/n)."""
        if self.n < 1:
            return self
        return _with_moments(self, self.mean, self.variance * (1.0 + 1.0 / self.n))


def _with_moments(base: CountDistribution, mean: float, variance: float) -> CountDistribution:
    if mean <= 0.0 or variance <= mean:
        return CountDistribution(base.name, mean, mean, None, base.dispersion_p, base.n)
    size = mean * mean / (variance - mean)
    return CountDistribution(base.name, mean, variance, size, base.dispersion_p, base.n)


def fit_counts(window: Sequence[float] | npt.ArrayLike) -> CountDistribution:
    """Describe `window` (non-negative counts) as Poisson or negative binomial."""
    x = np.asarray(window, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("fit_counts: the window is empty")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("fit_counts: counts must be finite and non-negative")
    k = int(x.size)
    mean = float(x.mean())
    var = float(x.var(ddof=1)) if k > 1 else 0.0
    if k < 2 or mean <= 0.0:
        return CountDistribution("poisson", mean, mean, None, 1.0, k)
    p = float(stats.chi2.sf((k - 1) * var / mean, k - 1))
    if var > mean:
        size = mean * mean / (var - mean)
        if math.isfinite(size) and size > 0:
            return CountDistribution("negative_binomial", mean, var, size, p, k)
    return CountDistribution("poisson", mean, mean, None, p, k)
