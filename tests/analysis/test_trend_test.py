"""The pure-Python Mann-Kendall of the product page against the NumPy/SciPy one and by hand."""

from __future__ import annotations

import math
import random

import pytest

from cerflow.analysis import trend_test, trends


def test_hand_calculation_of_a_rising_series() -> None:
    # 1..5: all 10 pairs rise, S = 10; Var S = 5*4*15/18; Z = (S - 1)/sqrt(Var S).
    r = trend_test.mann_kendall([1, 2, 3, 4, 5])
    assert r.s == 10
    assert r.var_s == pytest.approx(300 / 18)
    assert r.z == pytest.approx(9 / math.sqrt(300 / 18))
    assert r.p == pytest.approx(0.027486, abs=1e-6)  # 2 * (1 - Phi(2.2045)), normal table
    assert r.trend == "increasing"
    assert (r.sen_slope, r.sen_intercept) == (1.0, 1.0)
    assert r.notes == ["only 5 points: the normal approximation is rough below 10"]


def test_ties_reduce_the_variance_by_hand() -> None:
    # 1, 1, 2: one tie group of 2 -> Var S = (3*2*11 - 2*1*9) / 18 = 48/18; S = 2.
    r = trend_test.mann_kendall([1, 1, 2])
    assert r.s == 2
    assert r.var_s == pytest.approx(48 / 18)


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_the_numpy_version(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 3, 5, 9, 10, 24, 60, 150])
    base = rng.uniform(-2, 2)
    values = [float(max(0, round(20 + base * i + rng.gauss(0, 6)))) for i in range(n)]
    if seed % 7 == 0:
        values = [3.0] * n  # constant
    ours = trend_test.mann_kendall(values)
    ref = trends.mann_kendall(values)
    assert ours.n == ref.n
    assert ours.s == ref.s
    assert ours.var_s == pytest.approx(ref.var_s, rel=1e-12)
    assert ours.z == pytest.approx(ref.z, rel=1e-12, abs=1e-15)
    assert ours.p == pytest.approx(ref.p, rel=1e-9, abs=1e-15)
    assert ours.trend == ref.trend
    assert ours.sen_slope == pytest.approx(ref.sen_slope, rel=1e-12, abs=1e-15)
    assert ours.sen_intercept == pytest.approx(ref.sen_intercept, rel=1e-12, abs=1e-12)
    assert ours.notes == ref.notes


@pytest.mark.parametrize("bad", [[1.0, float("nan"), 2.0], [float("inf"), 1.0, 2.0]])
def test_refuses_non_finite_values(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        trend_test.mann_kendall(bad)
