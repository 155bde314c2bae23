"""Peer comparison: a product's event profile and signals against its peer set only.

Why: against the whole database a device shows the events of its *device type* (every
infusion pump reports occlusions); against other manufacturers of the same FDA product
code, what stands out is what is particular to this product. For drugs the peers are a
list of product keys the caller supplies (same indication or class, where the data say
so; the store has no indication hierarchy of its own).

Frames: ``products`` (report_id, product) and ``events`` (report_id, event), the
`disproportionality` contract. The analysis universe is every report naming the product
or one of its peers; a report naming both counts for both (it is one report in N). The
statistics are exactly `disproportionality.disproportionality` restricted to that
universe, so PRR/ROR/IC/EBGM there compare the product with its peers, not with the
database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from cerflow.analysis.disproportionality import (
    ALL_METHODS,
    Method,
    SignalResult,
    disproportionality,
    for_product,
)
from cerflow.analysis.thresholds import SignalThresholds


@dataclass(frozen=True)
class PeerComparison:
    product: str
    peers: list[str]  # peers that have at least one report in the frames
    product_reports: int
    peer_reports: int  # reports naming a peer and not the product
    profile: pl.DataFrame  # event, product_reports, product_percent, peer_reports, peer_percent
    signals: pl.DataFrame  # the product's rows of the peer-restricted disproportionality
    result: SignalResult | None  # None when there is nothing to compute
    notes: list[str] = field(default_factory=list)


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"peers: {what} frame lacks column(s) {', '.join(missing)}")


def _profile(events: pl.DataFrame, product_ids: pl.Series, peer_ids: pl.Series) -> pl.DataFrame:
    n_prod, n_peer = product_ids.len(), peer_ids.len()

    def counts(ids: pl.Series, name: str) -> pl.DataFrame:
        return (
            events.filter(pl.col("report_id").is_in(ids.implode()))
            .group_by("event")
            .agg(pl.col("report_id").n_unique().cast(pl.Int64).alias(name))
        )

    prof = counts(product_ids, "product_reports").join(
        counts(peer_ids, "peer_reports"), on="event", how="full", coalesce=True
    )
    return (
        prof.with_columns(pl.col("product_reports", "peer_reports").fill_null(0))
        .with_columns(
            (pl.col("product_reports") * 100.0 / max(n_prod, 1)).alias("product_percent"),
            (pl.col("peer_reports") * 100.0 / max(n_peer, 1)).alias("peer_percent"),
        )
        .select("event", "product_reports", "product_percent", "peer_reports", "peer_percent")
        .sort(["product_reports", "event"], descending=[True, False])
    )


def compare_to_peers(
    products: pl.DataFrame,
    events: pl.DataFrame,
    *,
    product: str,
    peers: Sequence[str] | None = None,
    methods: Sequence[Method] = ALL_METHODS,
    min_count: int = 1,
    thresholds: SignalThresholds | None = None,
) -> PeerComparison:
    """Compare `product` with `peers` (default: every other product in `products`).

    `products` may hold the whole database; only the product and its peers are kept.
    """
    _require(products, ["report_id", "product"], "products")
    _require(events, ["report_id", "event"], "events")
    all_labels = set(products["product"].unique().to_list())
    wanted = [p for p in (peers if peers is not None else sorted(all_labels)) if p != product]
    present = sorted(p for p in set(wanted) if p in all_labels)
    notes: list[str] = []
    missing = sorted(set(wanted) - all_labels)
    if missing:
        notes.append(f"peers without reports: {', '.join(missing)}")
    universe = products.filter(pl.col("product").is_in([product, *present]))
    product_ids = universe.filter(pl.col("product") == product)["report_id"].unique()
    peer_only = universe.filter(
        (pl.col("product") != product) & ~pl.col("report_id").is_in(product_ids.implode())
    )
    peer_ids = peer_only["report_id"].unique()
    ev = events.filter(pl.col("report_id").is_in(universe["report_id"].implode()))
    profile = _profile(ev, product_ids, peer_ids)
    empty_signals = pl.DataFrame()
    if product_ids.len() == 0:
        notes.append(f"{product!r} has no reports in the frames")
        return PeerComparison(
            product, present, 0, peer_ids.len(), profile, empty_signals, None, notes
        )
    if not present or peer_ids.len() == 0:
        notes.append("no peer reports: nothing to compare with")
        return PeerComparison(
            product, present, product_ids.len(), 0, profile, empty_signals, None, notes
        )
    if ev.height == 0:
        notes.append("no events in the product's or its peers' reports")
        return PeerComparison(
            product, present, product_ids.len(), peer_ids.len(), profile, empty_signals, None, notes
        )
    result = disproportionality(
        universe, ev, methods=methods, min_count=min_count, thresholds=thresholds
    )
    notes.extend(result.notes)
    return PeerComparison(
        product,
        present,
        product_ids.len(),
        peer_ids.len(),
        profile,
        for_product(result, product),
        result,
        notes,
    )
