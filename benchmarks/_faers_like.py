"""A FAERS-like synthetic report set with injected product-event signals of known strength.

Shape (as the benchmark brief asks): ~3,000 products and ~5,000 MedDRA-like terms with
Zipf-like (long-tailed) popularity; products and terms belong to ~40 "therapeutic"
clusters and a report draws most of its products and terms from one cluster, so the
background already has correlated, non-null associations (as real FAERS does); 1-4
products and 1-5 events per report. Twenty (product, event) pairs get an injected excess:
every report that names product P_k also gets event E_k with probability pi_k, chosen so
that the reporting ratio is RR_k = 1 + pi_k / r(E_k), r being E_k's background rate.

Deterministic for a given seed. Returns report-level frames, one row per report-product and
per report-event (duplicates may occur and are the analysis' job to remove).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

SIGNAL_RR = tuple(float(x) for x in np.linspace(4.0, 12.0, 20))


@dataclass(frozen=True)
class FaersLike:
    products: pl.DataFrame  # report_id, product
    events: pl.DataFrame  # report_id, event
    signals: pl.DataFrame  # product, event, rr_target, inject_prob
    n_reports: int


def _cluster_sampler(
    members_cluster: np.ndarray, weights: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated per-cluster CDFs shifted to [c, c+1) so one searchsorted samples all."""
    order = np.lexsort((np.arange(members_cluster.size), members_cluster))
    cl = members_cluster[order]
    w = weights[order]
    cum = np.zeros_like(w)
    for c in range(n_clusters):
        sel = cl == c
        cs = np.cumsum(w[sel])
        cum[sel] = c + cs / cs[-1]
    return cum, order


def generate(
    n_reports: int,
    *,
    n_products: int = 3000,
    n_terms: int = 5000,
    n_clusters: int = 40,
    n_signals: int = 20,
    seed: int = 20240601,
    products_per_report: tuple[int, int] = (1, 4),
    events_per_report: tuple[int, int] = (1, 5),
    labels: bool = True,
) -> FaersLike:
    """``products_per_report`` / ``events_per_report``: inclusive (min, max), drawn uniformly.
    ``labels=False`` names products and terms by integer codes (as a store's ids would),
    which keeps 20-million-report sets within memory: string labels cost ~50 bytes a row."""
    rng = np.random.default_rng(seed)
    w_prod = 1.0 / np.arange(1, n_products + 1) ** 1.1
    w_term = 1.0 / np.arange(1, n_terms + 1) ** 1.0
    rng.shuffle(w_prod)
    rng.shuffle(w_term)
    prod_cluster = rng.integers(0, n_clusters, n_products)
    term_cluster = rng.integers(0, n_clusters, n_terms)
    cluster_w = rng.dirichlet(np.full(n_clusters, 2.0))
    p_cum, p_order = _cluster_sampler(prod_cluster, w_prod, n_clusters)
    t_cum, t_order = _cluster_sampler(term_cluster, w_term, n_clusters)
    p_global = np.cumsum(w_prod) / w_prod.sum()
    t_global = np.cumsum(w_term) / w_term.sum()

    report_cluster = rng.choice(n_clusters, n_reports, p=cluster_w)
    k_p = rng.integers(products_per_report[0], products_per_report[1] + 1, n_reports)
    k_e = rng.integers(events_per_report[0], events_per_report[1] + 1, n_reports)

    def draw(k: np.ndarray, cum: np.ndarray, order: np.ndarray, glob: np.ndarray, local: float):
        rep = np.repeat(np.arange(n_reports), k)
        u = rng.random(rep.size)
        in_cluster = rng.random(rep.size) < local
        item = np.empty(rep.size, dtype=np.int64)
        item[in_cluster] = order[
            np.minimum(
                np.searchsorted(cum, report_cluster[rep[in_cluster]] + u[in_cluster]),
                order.size - 1,
            )
        ]
        item[~in_cluster] = np.minimum(np.searchsorted(glob, u[~in_cluster]), glob.size - 1)
        return rep, item

    p_rep, p_item = draw(k_p, p_cum, p_order, p_global, 0.7)
    e_rep, e_item = draw(k_e, t_cum, t_order, t_global, 0.5)

    # Signals: mid-popularity products and terms from different clusters.
    prod_rank = np.argsort(-w_prod)
    term_rank = np.argsort(-w_term)
    cand_p = prod_rank[10:150]
    cand_t = term_rank[20:300]
    sig_p = rng.choice(cand_p, n_signals, replace=False)
    sig_t = np.empty(n_signals, dtype=np.int64)
    used: set[int] = set()
    for i, p in enumerate(sig_p):
        options = [t for t in cand_t if term_cluster[t] != prod_cluster[p] and t not in used]
        sig_t[i] = options[int(rng.integers(0, len(options)))]
        used.add(int(sig_t[i]))
    # Background rate of each signal term, measured on the generated events.
    term_reports = np.bincount(e_item, minlength=n_terms)  # ~ reports (few duplicates)
    rr = np.array(SIGNAL_RR[:n_signals])
    rate = term_reports[sig_t] / n_reports
    inject = np.clip((rr - 1.0) * rate, 0.0, 1.0)
    extra_rep: list[np.ndarray] = []
    extra_item: list[np.ndarray] = []
    for p, t, pi in zip(sig_p, sig_t, inject, strict=True):
        reps = np.unique(p_rep[p_item == p])
        hit = reps[rng.random(reps.size) < pi]
        extra_rep.append(hit)
        extra_item.append(np.full(hit.size, t))
    e_rep = np.concatenate([e_rep, *extra_rep])
    e_item = np.concatenate([e_item, *extra_item])

    if labels:
        prod_names: np.ndarray = np.array([f"PRODUCT-{i:05d}" for i in range(n_products)])
        term_names: np.ndarray = np.array([f"TERM-{i:05d}" for i in range(n_terms)])
    else:
        prod_names = np.arange(n_products, dtype=np.int32)
        term_names = np.arange(n_terms, dtype=np.int32)
    products = pl.DataFrame({"report_id": p_rep.astype(np.int64), "product": prod_names[p_item]})
    del p_rep, p_item
    events = pl.DataFrame({"report_id": e_rep.astype(np.int64), "event": term_names[e_item]})
    del e_rep, e_item
    signals = pl.DataFrame(
        {
            "product": prod_names[sig_p],
            "event": term_names[sig_t],
            "rr_target": rr,
            "inject_prob": inject,
        }
    )
    return FaersLike(products, events, signals, n_reports)
