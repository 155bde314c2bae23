"""Anomalies: planted spike and step found, a null series left alone, limits by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy import stats

from cerflow.analysis.anomalies import SHEWHART_TAIL, detect_anomalies
from cerflow.analysis.count_distribution import fit_counts
from tests.analysis.finite import assert_finite


def _limit_by_hand(base: np.ndarray, tail: float) -> tuple[float, float]:
    """UCL and p-value ingredients computed from the textbook formulas."""
    k, m, v = base.size, base.mean(), base.var(ddof=1)
    var = max(v, m) * (1 + 1 / k)  # NB when overdispersed, Poisson otherwise; predictive
    r = m * m / (var - m)
    dist = stats.nbinom(r, r / (r + m))
    return float(dist.ppf(1 - tail)), dist


def test_fit_counts_by_hand() -> None:
    nb = fit_counts([8, 12, 10, 30])
    # mean 15, variance (49 + 9 + 25 + 225) / 3; r = 15^2 / (var - 15).
    var = (49 + 9 + 25 + 225) / 3
    assert nb.name == "negative_binomial" and nb.size == pytest.approx(225 / (var - 15))
    assert nb.dispersion_p == pytest.approx(stats.chi2.sf(3 * var / 15, 3))
    po = fit_counts([9, 10, 11])
    assert po.name == "poisson" and po.size is None and po.variance == 10.0
    with pytest.raises(ValueError, match="empty"):
        fit_counts([])


def test_planted_spike_flagged_with_its_statistics() -> None:
    rng = np.random.default_rng(7)
    y = rng.poisson(10, 48).astype(float)
    y[30] = 40
    first = dt.date(2020, 1, 1)
    result = detect_anomalies(y.tolist(), first_month=first)
    assert [f.month for f in result.flags] == ["2022-07"]  # index 30
    flag = result.flags[0]
    base = y[18:30]
    ucl, dist = _limit_by_hand(base, SHEWHART_TAIL)
    assert flag.observed == 40 and flag.expected == pytest.approx(base.mean(), abs=1e-4)
    assert flag.threshold == ucl
    assert flag.p_value == pytest.approx(dist.sf(39)) and flag.p_value <= SHEWHART_TAIL
    assert (flag.baseline_start, flag.baseline_end, flag.baseline_months) == (
        "2021-07",
        "2022-06",
        12,
    )
    assert flag.distribution == (
        "negative_binomial" if base.var(ddof=1) > base.mean() else "poisson"
    )
    assert_finite(result)


def test_planted_step_found_as_change_point() -> None:
    rng = np.random.default_rng(5)
    y = np.r_[rng.poisson(10, 30), rng.poisson(25, 30)].astype(float)
    frame = pl.DataFrame(
        {
            "month": pl.date_range(dt.date(2019, 1, 1), dt.date(2023, 12, 1), "1mo", eager=True),
            "count": y.astype(int),
        }
    )
    result = detect_anomalies(frame)
    assert len(result.change_points) == 1
    cp = result.change_points[0]
    assert cp.index == 30 and cp.month == "2021-07"
    assert cp.mean_before == pytest.approx(y[:30].mean(), abs=1e-4)
    assert cp.mean_after == pytest.approx(y[30:].mean(), abs=1e-4)
    z = 2 * np.sqrt(y + 0.375)
    sse = lambda a: float(((a - a.mean()) ** 2).sum())  # noqa: E731
    assert cp.gain == pytest.approx(sse(z) - sse(z[:30]) - sse(z[30:]), abs=1e-3)
    assert cp.gain > cp.penalty == result.penalty
    assert result.penalty >= 3 * np.log(60) - 1e-3  # sigma^2 >= 1
    assert_finite(result)


def test_null_series_raises_no_flag() -> None:
    rng = np.random.default_rng(0)  # the stated seed
    result = detect_anomalies(rng.poisson(10, 60).tolist())
    assert result.flags == [] and result.change_points == []
    assert result.evaluated == 54 and result.skipped == 0


def test_zero_baseline_is_skipped_not_flagged() -> None:
    result = detect_anomalies([0] * 12 + [5, 4])
    assert result.flags == [] and result.evaluated == 1 and result.skipped == 7


@pytest.mark.parametrize("values", [[], [3], [0] * 24, [7] * 24, [0, 1]])
def test_degenerate_series(values: list[int]) -> None:
    result = detect_anomalies(values)
    assert result.flags == [] and result.change_points == []
    assert_finite(result)
    if len(values) < 7:
        assert result.notes


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        detect_anomalies([1, float("nan")])
    with pytest.raises(ValueError, match="tail"):
        detect_anomalies([1, 2, 3], tail=0.7)
