"""The weak-signal recovery benchmark's generator plants what its docstring says.

A benchmark that claims "0 false among 1,000 nulls" is only as good as its nulls: these
tests check, on the generated rows themselves, that there are 1,000 of them in the
signals' E range with nothing injected, and that the oracle posterior matches a hand
calculation.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from benchmarks import recovery


@pytest.fixture(scope="module")
def planted() -> tuple[recovery.Planted, pl.DataFrame]:
    data = recovery.generate(100_000, 7)
    return data, recovery.observed(data)


def test_twenty_signals_and_a_thousand_nulls_in_the_e_range(
    planted: tuple[recovery.Planted, pl.DataFrame],
) -> None:
    data, table = planted
    kinds = table["kind"].value_counts().sort("kind")
    assert kinds.rows() == [("null", 1000), ("signal", 20)]
    assert table.select("product", "event").unique().height == 1020
    lo, hi = recovery.E_RANGE
    assert table["e0"].min() >= lo  # type: ignore[operator]
    assert table["e0"].max() <= hi  # type: ignore[operator]
    assert data.n_candidates > 1020


def test_nulls_share_no_product_or_term_with_a_signal(
    planted: tuple[recovery.Planted, pl.DataFrame],
) -> None:
    _, table = planted
    sig = table.filter(pl.col("kind") == "signal")
    nul = table.filter(pl.col("kind") == "null")
    assert sig["product"].n_unique() == 20
    assert sig["event"].n_unique() == 20
    assert not set(nul["product"]) & set(sig["product"])
    assert not set(nul["event"]) & set(sig["event"])


def test_counts_are_inflated_for_signals_only(
    planted: tuple[recovery.Planted, pl.DataFrame],
) -> None:
    _, table = planted
    sig = table.filter(pl.col("kind") == "signal")
    nul = table.filter(pl.col("kind") == "null")
    # Nulls: the summed count of 1,000 independent pairs is within 4 Poisson standard
    # deviations of their summed E0 (no injection); signals: about 5 times E0.
    null_a, null_e0 = float(nul["a"].sum()), float(nul["e0"].sum())
    assert abs(null_a - null_e0) < 4 * math.sqrt(null_e0)
    ratio = float(sig["a"].sum()) / float(sig["e0"].sum())
    assert 4.0 < ratio < 6.0
    # the engine's E counts the injected reports in the term margin: at most 10 % more
    # in expectation (4 n_p / N <= 0.1), so on average over the 20 signals
    assert (sig["e"] / sig["e0"]).mean() <= 1.1  # type: ignore[operator]


def test_oracle_posterior_matches_a_hand_calculation() -> None:
    # n = 10, E0 = 2, r_t -> 0 (mu1 = 10): LR = 5^10 exp(-8); prior 0.002.
    table = pl.DataFrame(
        {"kind": ["signal"], "a": [10], "e0": [2.0], "r_t": [0.0]},
    )
    out = recovery.oracle(table, 0.002)
    odds = 0.002 / 0.998 * 5**10 * math.exp(-8.0)
    assert out["p_signal_at_n10_e2"] == pytest.approx(odds / (1 + odds), rel=1e-9)
    assert out["p_signal_of_signals_max"] == pytest.approx(odds / (1 + odds), rel=1e-9)
    # P = 0.868 < 0.95: not flagged; n = 11 gives 0.970
    assert out["signals_eb05_ge_2"] == 0
    assert out["min_n_for_eb05_ge_2_at_e2"] == 11


def test_on_bounds_flags_vigipy_style_limits() -> None:
    theta = [recovery.VIGIPY_EPS, 0.46, 9.74, 10.0, 0.0]
    flagged = recovery.on_bounds(theta, recovery.VIGIPY_BOUNDS, 1.001)
    assert [f.split("=")[0] for f in flagged] == ["alpha1", "beta2", "P"]
    assert recovery.on_bounds([0.05, 0.02, 3e4, 3e4, 7e-5], recovery.CERFLOW_BOUNDS, 2.0) == []
