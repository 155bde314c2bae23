"""Forecast: fallbacks by hand, MASE by hand, model choice consistent with statsmodels."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from cerflow.analysis.forecast import backtest_mase, forecast
from tests.analysis.finite import assert_finite


def _check_shape(f, horizon: int = 12) -> None:
    assert len(f.months) == len(f.mean) == len(f.lo95) == len(f.hi95) == horizon
    for lo95, lo80, m, hi80, hi95 in zip(f.lo95, f.lo80, f.mean, f.hi80, f.hi95, strict=True):
        assert 0.0 <= lo95 <= lo80 <= m <= hi80 <= hi95
    assert_finite(f)


def test_mase_by_hand() -> None:
    def last_value(train: np.ndarray, h: int) -> np.ndarray:
        return np.full(h, train[-1])

    bt = backtest_mase([2, 4, 3, 5], last_value, horizon=2, origins=2)
    # Origin 2: train [2, 4], scale |4-2| = 2, forecasts 4, 4 vs 3, 5 -> 0.5, 0.5.
    # Origin 3: train [2, 4, 3], scale (2 + 1) / 2 = 1.5, forecast 3 vs 5 -> 2 / 1.5.
    assert bt.mase == pytest.approx((0.5 + 0.5 + 2 / 1.5) / 3)
    assert bt.origins == 2 and bt.skipped == 0
    flat_train = backtest_mase([3, 3, 3, 7], last_value, horizon=1, origins=2)
    # Both origins train on constant data (scale 0): skipped, MASE unavailable.
    assert flat_train.mase is None and flat_train.skipped == 2


def test_all_zero_series() -> None:
    f = forecast([0] * 30)
    assert f.method == "zero" and f.mean == [0.0] * 12 and f.hi95 == [0.0] * 12
    assert f.mase is None and any("zero" in n for n in f.notes)
    _check_shape(f)


def test_flat_series_poisson_predictive_by_hand() -> None:
    f = forecast([5] * 30, last_month=dt.date(2023, 12, 1))
    assert f.method == "flat" and f.mean == [5.0] * 12
    assert f.months[0] == "2024-01" and f.months[-1] == "2024-12"
    # Poisson(5) widened for 30 months of rate estimation: variance 5 (1 + 1/30)
    # -> negative binomial with r = 25 / (5/30) = 150.
    nb = stats.nbinom(150, 150 / 155)
    assert f.hi95[0] == nb.ppf(0.975) and f.lo95[0] == nb.ppf(0.025)
    assert f.hi80[0] == nb.ppf(0.9) and f.lo80[0] == nb.ppf(0.1)
    _check_shape(f)


def test_sparse_series_croston_by_hand() -> None:
    y = [0, 2, 0, 0, 4, 0, 0, 0]
    f = forecast(y)
    # Non-zeros at t=1 (2) and t=4 (4): size 2 -> 2 + 0.1 (4 - 2) = 2.2;
    # interval 2 -> 2 + 0.1 (3 - 2) = 2.1; SBA rate 0.95 * 2.2 / 2.1.
    assert f.method == "croston_sba"
    assert f.mean[0] == pytest.approx(0.95 * 2.2 / 2.1, abs=1e-4)
    _check_shape(f)


def test_short_series_mean_by_hand() -> None:
    y = [3, 9, 4, 6, 5, 7, 8, 4, 6, 5, 7, 6, 9, 5, 8]
    f = forecast(
        pl.DataFrame(
            {
                "month": [dt.date(2022, m, 1) for m in range(1, 13)]
                + [dt.date(2023, m, 1) for m in range(1, 4)],
                "count": y,
            }
        )
    )
    assert f.method == "mean"
    assert f.mean[0] == pytest.approx(np.mean(y[-12:]), abs=1e-4)
    assert f.months[0] == "2023-04"
    assert f.mase is not None and f.backtest_origins == 12
    _check_shape(f)


def test_long_series_model_chosen_by_aicc() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(20 + 0.5 * np.arange(48)).astype(float)
    f = forecast(y.tolist())
    assert f.method in f.aicc and f.aicc[f.method] == min(f.aicc.values())
    assert "ETS(A,N,A)" in f.aicc  # 48 months: seasonal candidates enter
    assert f.mase is not None and f.mase > 0 and f.backtest_origins == 12
    _check_shape(f)
    if f.method == "ETS(A,Ad,N)":  # the oracle: the same model straight from statsmodels
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True).fit(
                disp=False, maxiter=200
            )
        assert f.mean == pytest.approx(np.clip(res.forecast(12), 0, None), abs=1e-3)


def test_low_counts_intervals_clipped_at_zero() -> None:
    rng = np.random.default_rng(11)
    y = rng.poisson(1.5, 40).astype(float)
    y[y == 0] = 1  # not sparse: goes to the models, whose Gaussian intervals dip below 0
    f = forecast(y.tolist())
    assert min(f.lo95) >= 0.0
    _check_shape(f)


def test_degenerate_inputs() -> None:
    empty = forecast(pl.DataFrame(schema={"month": pl.Date, "count": pl.Int64}))
    assert empty.method == "none" and empty.months == [] and empty.notes
    one = forecast([4])
    assert one.method == "flat" and one.mase is None
    _check_shape(one)
    with pytest.raises(ValueError, match="non-negative"):
        forecast([1, -2, 3])
    with pytest.raises(ValueError, match="duplicate months"):
        forecast(pl.DataFrame({"month": [dt.date(2020, 1, 1)] * 2, "count": [1, 2]}))
    with pytest.raises(ValueError, match="horizon"):
        forecast([1, 2], horizon=0)
