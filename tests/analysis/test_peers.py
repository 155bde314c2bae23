"""Peer comparison: the 2x2 table inside the peer set, counted by hand."""

from __future__ import annotations

import polars as pl
import pytest

from cerflow.analysis.peers import compare_to_peers
from tests.analysis.finite import assert_finite

PRODUCTS = pl.DataFrame(
    {
        "report_id": [1, 2, 3, 4, 5, 6, 7, 8, 8],
        "product": ["A", "A", "A", "B", "B", "C", "Z", "A", "B"],
    }
)
EVENTS = pl.DataFrame(
    {
        "report_id": [1, 2, 2, 3, 4, 5, 6, 7, 8],
        "event": ["x", "x", "y", "y", "y", "z", "y", "x", "z"],
    }
)


def test_statistics_restricted_to_peers_by_hand() -> None:
    cmp = compare_to_peers(PRODUCTS, EVENTS, product="A", peers=["B", "C", "Q"])
    assert cmp.peers == ["B", "C"] and any("Q" in n for n in cmp.notes)
    # Universe: reports naming A, B or C = {1, 2, 3, 4, 5, 6, 8}; Z's report 7 is out.
    assert cmp.result is not None and cmp.result.n_reports == 7
    assert cmp.product_reports == 4 and cmp.peer_reports == 3  # peers only: {4, 5, 6}
    y = cmp.signals.filter(pl.col("event") == "y").row(0, named=True)
    # A with y {2, 3}: a = 2; A without y {1, 8}: b = 2; y without A {4, 6}: c = 2; d = 1.
    assert (y["a"], y["b"], y["c"], y["d"]) == (2, 2, 2, 1)
    assert y["prr"] == pytest.approx((2 / 4) / (2 / 3))
    assert y["ror"] == pytest.approx((2 * 1) / (2 * 2))
    assert y["expected"] == pytest.approx(4 * 4 / 7)
    prof = {r["event"]: r for r in cmp.profile.iter_rows(named=True)}
    assert prof["y"]["product_reports"] == 2 and prof["y"]["product_percent"] == 50.0
    assert prof["y"]["peer_reports"] == 2 and prof["y"]["peer_percent"] == pytest.approx(200 / 3)
    assert prof["z"]["product_reports"] == 1 and prof["z"]["peer_reports"] == 1
    assert_finite(cmp.profile)
    assert_finite(cmp.signals)


def test_default_peers_are_all_other_products() -> None:
    cmp = compare_to_peers(PRODUCTS, EVENTS, product="A")
    assert cmp.peers == ["B", "C", "Z"] and cmp.result is not None
    assert cmp.result.n_reports == 8


def test_degenerate_peer_sets() -> None:
    missing = compare_to_peers(PRODUCTS, EVENTS, product="NOPE", peers=["B"])
    assert missing.result is None and missing.product_reports == 0 and missing.notes
    alone = compare_to_peers(PRODUCTS, EVENTS, product="A", peers=[])
    assert alone.result is None and alone.peer_reports == 0
    no_events = compare_to_peers(PRODUCTS, EVENTS.head(0), product="A", peers=["B"])
    assert no_events.result is None and no_events.profile.height == 0
    with pytest.raises(ValueError, match="event"):
        compare_to_peers(PRODUCTS, EVENTS.rename({"event": "term"}), product="A")
