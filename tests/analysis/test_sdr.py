"""Signals of disproportionate reporting (`cerflow.analysis.sdr`) against independent oracles:
a hand-computed hypergeometric mid-p, scipy's Fisher exact test, statsmodels' BH."""

from __future__ import annotations

import datetime as dt
from math import comb

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from cerflow.analysis import sdr
from cerflow.analysis.disproportionality import disproportionality, for_product
from cerflow.analysis.sdr import SdrCriteria

LOOSE = SdrCriteria(min_product_reports=0, background_min_reports=0)


def test_mid_p_equals_hand_calculation() -> None:
    # 2x2 a=3, b=2, c=2, d=9 (N=16, n_P=5, n_E=5): P(A=k) = C(5,k) C(11,5-k) / C(16,5).
    def pmf(k: int) -> float:
        return comb(5, k) * comb(11, 5 - k) / comb(16, 5)

    hand = pmf(4) + pmf(5) + 0.5 * pmf(3)
    got = sdr.mid_p_fisher([3], [2], [2], [9])[0]
    assert got == pytest.approx(hand, rel=1e-12)
    # mid-p = Fisher one-sided p minus half the point probability (scipy as the oracle).
    fisher = stats.fisher_exact([[3, 2], [2, 9]], alternative="greater").pvalue
    assert got == pytest.approx(fisher - 0.5 * pmf(3), rel=1e-12)


def test_mid_p_vectorised_matches_scipy_per_table() -> None:
    rng = np.random.default_rng(7)
    a, b, c, d = (rng.integers(0, 40, 50) for _ in range(4))
    a = a + 1
    got = sdr.mid_p_fisher(a, b, c, d)
    for i in range(50):
        tab = [[a[i], b[i]], [c[i], d[i]]]
        p = stats.fisher_exact(tab, alternative="greater").pvalue
        point = stats.hypergeom.pmf(a[i], a[i] + b[i] + c[i] + d[i], a[i] + b[i], a[i] + c[i])
        assert got[i] == pytest.approx(p - 0.5 * point, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("q", [0.01, 0.05, 0.2])
def test_bh_equals_statsmodels(q: float) -> None:
    rng = np.random.default_rng(11)
    p = np.concatenate([rng.uniform(0, 1, 300), rng.uniform(0, 0.001, 30)])
    p[5] = p[6]  # a tie
    rejected, adjusted = sdr.benjamini_hochberg(p, q)
    ref_rej, ref_adj, _, _ = multipletests(p, alpha=q, method="fdr_bh")
    assert np.array_equal(rejected, ref_rej)
    np.testing.assert_allclose(adjusted, ref_adj, rtol=1e-12)


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A background: product X with 60 reports, 340 other reports of products Y and Z.

    X-"Rash" 10 of 60 (also 2 of 340 with others), X-"Only X" 5 (no other product has it:
    c = 0), X-"Drug ineffective" 8 (others 1), X-"Nausea" 6 (others 4), X-"Rare" 2 (others 0).
    """
    prods: list[tuple[int, str]] = []
    evs: list[tuple[int, str]] = []
    rid = 0
    plan_x = [("Rash", 10), ("Only X", 5), ("Drug ineffective", 8), ("Nausea", 6), ("Rare", 2)]
    for term, n in plan_x:
        for _ in range(n):
            rid += 1
            prods.append((rid, "X"))
            evs.append((rid, term))
    while rid < 60:  # filler reports of X
        rid += 1
        prods.append((rid, "X"))
        evs.append((rid, "Headache"))
    for term, n in [("Rash", 2), ("Drug ineffective", 1), ("Nausea", 4), ("Headache", 333)]:
        for _ in range(n):
            rid += 1
            prods.append((rid, "Y" if rid % 2 else "Z"))
            evs.append((rid, term))
    return (
        pl.DataFrame(prods, schema=["report_id", "product"], orient="row"),
        pl.DataFrame(evs, schema=["report_id", "event"], orient="row"),
    )


def _selection(criteria: SdrCriteria = LOOSE, **kw: object) -> sdr.SdrSelection:
    products, events = _frames()
    res = disproportionality(products, events, **kw)  # type: ignore[arg-type]
    rows = for_product(res, "X")
    n_product = int(rows["a"][0] + rows["b"][0])
    return sdr.select_sdrs(rows, n_product=n_product, criteria=criteria)


def test_zero_background_pair_is_never_ranked() -> None:
    sel = _selection(SdrCriteria(min_product_reports=0, eb05_min=0.01, ic025_min=-99))
    # With a threshold everything passes, "Only X" (c = 0, ROR huge by the 0.5 correction)
    # must still be kept out of the SDRs and the FDR list.
    assert sel.primary == "EB05"
    only = sel.table.filter(pl.col("event") == "Only X").row(0, named=True)
    assert only["c"] == 0 and only["zero_background"] and only["ror"] > 10
    assert "Only X" not in sel.sdrs["event"].to_list()
    assert "Only X" not in sel.fdr_list["event"].to_list()
    assert sel.zero_background["event"].to_list() == ["Only X", "Rare"]  # by a
    assert only["fdr_p"] is None and not only["eligible"]


def test_min_cases_lack_of_efficacy_and_ranking() -> None:
    sel = _selection(SdrCriteria(min_product_reports=0, eb05_min=0.01))
    events = sel.sdrs["event"].to_list()
    assert "Rare" not in events  # a = 2 < 3: never an SDR, by any method
    assert "Drug ineffective" not in events
    assert sel.lack_of_efficacy["event"].to_list() == ["Drug ineffective"]
    eb05 = sel.sdrs["eb05"].to_list()
    assert eb05 == sorted(eb05, reverse=True)
    # The BH family: a >= 3, c > 0, not lack of efficacy -> Rash, Nausea, Headache.
    assert sel.tests == 3
    fam = sel.table.filter(pl.col("eligible")).sort("event")
    _, ref_adj, _, _ = multipletests(fam["mid_p"].to_numpy(), alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(fam["fdr_p"].to_numpy(), ref_adj, rtol=1e-12)


def test_ic025_is_primary_without_ebgm() -> None:
    sel = _selection(SdrCriteria(min_product_reports=0), methods=["prr", "ror", "ic"])
    assert sel.primary == "IC025" and sel.primary_threshold == 0.0
    assert (sel.sdrs["ic025"] > 0).all()
    assert "Rash" in sel.sdrs["event"].to_list()


def test_small_product_is_descriptive_only() -> None:
    sel = _selection(SdrCriteria(min_product_reports=61))
    assert sel.descriptive_only and sel.sdrs.height == 0 and sel.fdr_list.height == 0
    assert sel.tests == 0
    assert "60 reports" in (sel.descriptive_reason or "")
    assert "61" in (sel.descriptive_reason or "")


def test_background_refusal_is_a_function_of_the_two_counts() -> None:
    c = SdrCriteria(background_min_reports=1000, background_max_product_share=0.2)
    assert sdr.background_refusal(20906, 500, criteria=c) is None
    small = sdr.background_refusal(200, 4, criteria=c)
    assert small is not None and "200 reports, fewer than the 1,000" in small
    dominated = sdr.background_refusal(5000, 4000, criteria=c)
    assert dominated is not None and "80.0%" in dominated and "20.0%" in dominated
    assert "fewer than" not in dominated
    assert sdr.background_refusal(0, 0, criteria=c) is not None


def test_lack_of_efficacy_terms() -> None:
    assert sdr.is_lack_of_efficacy("Drug ineffective")
    assert sdr.is_lack_of_efficacy("  THERAPEUTIC   response decreased ")
    assert sdr.is_lack_of_efficacy("Drug effect decreased")
    assert not sdr.is_lack_of_efficacy("Myalgia")


def test_signal_status_new_ongoing_closed() -> None:
    prev = {"Myalgia": dt.date(2024, 1, 31), "Rash": None}
    rows = sdr.signal_status(["myalgia", "Nausea"], prev, detected_on=dt.date(2025, 6, 30))
    got = {(r.event, r.status, r.first_detected) for r in rows}
    assert got == {
        ("myalgia", "ongoing", dt.date(2024, 1, 31)),
        ("Nausea", "new", dt.date(2025, 6, 30)),
        ("Rash", "closed", None),
    }
    assert {r.status for r in sdr.signal_status(["A"], None, detected_on=None)} == {"new"}


def test_criteria_validation() -> None:
    with pytest.raises(ValueError, match="fdr_q"):
        SdrCriteria(fdr_q=1.5)
    with pytest.raises(ValueError, match="min_cases"):
        SdrCriteria(min_cases=0)
