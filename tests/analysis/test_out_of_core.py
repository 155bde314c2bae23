"""The out-of-core pair counting (Polars streaming) gives the in-memory path's values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cerflow.analysis.disproportionality import (
    PairCounts,
    compute_signals,
    count_pairs,
    count_pairs_lazy,
)


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 3000
    # duplicates, reports with products only or events only, Zipf-like popularity
    p_rep = rng.integers(0, n, 7000)
    e_rep = rng.integers(0, n + 200, 8000)
    products = pl.DataFrame(
        {"report_id": p_rep, "product": [f"P{k}" for k in rng.zipf(1.6, p_rep.size) % 60]}
    )
    events = pl.DataFrame(
        {"report_id": e_rep, "event": [f"E{k}" for k in rng.zipf(1.4, e_rep.size) % 150]}
    )
    return products, events


@pytest.mark.parametrize("seed", [1, 2])
def test_lazy_counts_and_statistics_equal_in_memory(seed: int) -> None:
    products, events = _frames(seed)
    mem = compute_signals(count_pairs(products, events)).table.sort("product", "event")
    lazy_counts = count_pairs_lazy(products.lazy(), events.lazy())
    lazy = compute_signals(lazy_counts).table.sort("product", "event")
    assert lazy_counts.n_reports == count_pairs(products, events).n_reports
    assert mem.height == lazy.height > 500
    assert mem.select("product", "event", "a", "b", "c", "d").equals(
        lazy.select("product", "event", "a", "b", "c", "d")
    )
    for col in ("expected", "prr", "ror_lo", "ic025"):
        np.testing.assert_allclose(lazy[col].to_numpy(), mem[col].to_numpy(), rtol=1e-12)
    # The GPS fit sums the pairs in another order, so the optimiser stops a hair apart.
    for col in ("ebgm", "eb05", "eb95"):
        np.testing.assert_allclose(lazy[col].to_numpy(), mem[col].to_numpy(), rtol=1e-6)
    assert mem["flag_ebgm"].equals(lazy["flag_ebgm"])


def test_lazy_counts_match_hand_counts() -> None:
    products = pl.DataFrame({"report_id": [1, 1, 2, 3, 3, 4], "product": list("ABAABB")})
    events = pl.DataFrame({"report_id": [1, 2, 2, 3, 5, 1], "event": list("xxyxzx")})
    c = count_pairs_lazy(products.lazy(), events.lazy())
    got = {
        (c.product_labels[int(p)], c.event_labels[int(e)]): int(a)
        for p, e, a in zip(c.product_code, c.event_code, c.a, strict=True)
    }
    # report 4 has no event and report 5 no product: N = 3 (reports 1, 2, 3)
    assert c.n_reports == 3
    assert got == {("A", "x"): 3, ("A", "y"): 1, ("B", "x"): 2}
    assert sorted(c.n_product.tolist()) == [2, 3, 3]


def _joined_counts(products: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """The oracle: a plain deduplicated join, counted per (product, event), sorted."""
    return (
        products.unique()
        .join(events.unique(), on="report_id")
        .group_by("product", "event")
        .len()
        .sort("product", "event")
    )


def _labelled_counts(counts: PairCounts) -> pl.DataFrame:
    """(product, event, len) of `counts`, in its pair order."""
    return pl.DataFrame(
        {
            "product": counts.product_labels.gather(counts.product_code),
            "event": counts.event_labels.gather(counts.event_code),
            "len": counts.a,
        }
    )


@pytest.mark.parametrize("seed", [3, 4])
def test_two_thread_counting_equals_one_thread_and_a_join(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large inputs code the product and event sides in two threads; forced on here for a
    small input, it must give the one-thread result, and both the counts of a plain
    deduplicated join."""
    from cerflow.analysis import disproportionality

    products, events = _frames(seed)
    monkeypatch.setattr(disproportionality, "_THREAD_ROWS_ABOVE", 0)
    threaded = count_pairs(products, events)
    monkeypatch.setattr(disproportionality, "_THREAD_ROWS_ABOVE", 10**12)
    single = count_pairs(products, events)
    for name in ("product_code", "event_code", "a", "n_product", "n_event", "expected"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(single, name))
    assert threaded.n_reports == single.n_reports
    oracle = _joined_counts(products, events)
    got = _labelled_counts(threaded).sort("product", "event")
    assert got.height == oracle.height > 500
    assert got.equals(oracle.with_columns(pl.col("len").cast(pl.Int64)))


@pytest.mark.parametrize("threads", [0, 10**12])
def test_counting_long_reports_equals_a_join(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports of very different sizes (1 to 60 events, some with no product; rows out of
    order, duplicated, ids starting far from 0): every (product, event) count equals a
    plain deduplicated join's, with the two sides coded in two threads or in one."""
    from cerflow.analysis import disproportionality

    rng = np.random.default_rng(9)
    n_rep = 400
    ids = 10_000_000 + 7 * np.arange(n_rep)  # sparse: remapped, not used as codes
    k_ev = rng.choice([1, 2, 3, 60], n_rep, p=[0.3, 0.4, 0.28, 0.02])
    k_pr = rng.choice([0, 1, 2, 5], n_rep, p=[0.05, 0.5, 0.35, 0.1])
    e_rep = np.repeat(ids, k_ev)
    p_rep = np.repeat(ids, k_pr)
    events = pl.DataFrame({"report_id": e_rep, "event": rng.integers(0, 90, e_rep.size)})
    products = pl.DataFrame({"report_id": p_rep, "product": rng.integers(0, 30, p_rep.size)})
    products = pl.concat([products, products.sample(50, seed=1)]).sample(fraction=1.0, seed=2)
    events = events.sample(fraction=1.0, seed=3)
    monkeypatch.setattr(disproportionality, "_THREAD_ROWS_ABOVE", threads)
    counts = count_pairs(products, events)
    got = _labelled_counts(counts)  # in code order, which must be the sorted order
    oracle = _joined_counts(products, events)
    assert got.height == oracle.height > 1000
    assert got.equals(oracle.with_columns(pl.col("len").cast(pl.Int64)))
    assert counts.n_reports == products.join(events, on="report_id")["report_id"].n_unique()


def test_statistics_in_chunks_equal_whole_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """PRR, ROR and IC are computed in chunks of pairs; with chunks of 7 pairs (a short
    last one, zero cells in some chunks only) every value equals one chunk's."""
    from cerflow.analysis import disproportionality

    products, events = _frames(5)
    counts = count_pairs(products, events)
    whole = compute_signals(counts, methods=("prr", "ror", "ic")).table
    monkeypatch.setattr(disproportionality, "_STATS_CHUNK", 7)
    chunked = compute_signals(counts, methods=("prr", "ror", "ic")).table
    assert whole.height % 7 and whole["zero_cell_corrected"].any()
    assert chunked.equals(whole)
    bcpnn = compute_signals(counts, methods=("ic",), ic_method="bcpnn").table
    monkeypatch.setattr(disproportionality, "_STATS_CHUNK", 10**9)
    assert compute_signals(counts, methods=("ic",), ic_method="bcpnn").table.equals(bcpnn)
