"""The PRR screen against hand calculation and scipy's chi-square (Yates) as oracles."""

from __future__ import annotations

import pytest
from scipy.stats import chi2_contingency

from cerflow.products.service import prr_chi2, resolve


@pytest.mark.parametrize(
    ("a", "n_p", "n_e", "n"),
    [(3, 4, 4, 10), (2, 4, 2, 10), (12, 50, 40, 2000), (1, 3, 100, 1000), (30, 31, 35, 90)],
)
def test_prr_chi2_matches_oracles(a: int, n_p: int, n_e: int, n: int) -> None:
    b, c = n_p - a, n_e - a
    d = n - n_p - c
    prr, chi2 = prr_chi2(a, n_p, n_e, n)
    if c > 0:
        assert prr == pytest.approx((a / (a + b)) / (c / (c + d)), rel=1e-12)
    else:
        assert prr is None
    expected = chi2_contingency([[a, b], [c, d]], correction=True)[0]
    assert chi2 == pytest.approx(expected, rel=1e-9)


def test_prr_hand_values() -> None:
    # a=3, b=1, c=1, d=5: PRR = (3/4)/(1/6) = 4.5; Yates chi2 = 10*(|15-1|-5)^2/(4*6*4*6).
    prr, chi2 = prr_chi2(3, 4, 4, 10)
    assert prr == pytest.approx(4.5)
    assert chi2 == pytest.approx(810 / 576)


def test_empty_margin_gives_none() -> None:
    assert prr_chi2(0, 0, 0, 0) == (None, None)


def test_resolve() -> None:
    assert resolve(" dqa ") == ("device", "DQA")
    assert resolve("Humira 40 mg")[0] == "drug"
