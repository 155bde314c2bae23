"""Benchmark: recovery of weak injected signals by EB05 >= 2, cerflow vs vigipy's GPS.

    uv run python benchmarks/recovery.py [--reports 100000] [--seed S] [--nulls 1000]

An independent generator (not ``_faers_like``, which is the benchmark's own set): 2,000
products and 5,000 terms drawn independently of each other with Zipf popularity (1-3 of
each per report), so that, before anything is planted, *every* product-term pair is null
(its count is Binomial(n_p, r_t), mean E0 = n_p r_t; n_p: reports naming the product,
r_t: share of reports naming the term).

Candidates: pairs with E0 in 1.4-4 and 20 <= n_p <= N / 40. The upper limit keeps the
injection from inflating a signal term's own margin by more than 10 % in expectation (it
adds about 4 n_p r_t reports to n_t = N r_t, a share 4 n_p / N), so the relative risk an
engine sees, a / E with E = n_p n_t / N, stays near 5 and E near E0.

* A **signal** (20 of them, distinct products and distinct terms, drawn at random among
  the candidates): every report naming the product also gets the term with probability
  4 r_t, so P(term | product) = r_t + (1 - r_t) 4 r_t, a report-level relative risk of
  5 - 4 r_t (about 5) and an expected count of about 5 E0, i.e. a = 7-20.
* A **null** (1,000 of them, ``--nulls``): a candidate pair whose product and term are
  both outside the 20 signals, so nothing was injected into its count nor into either
  margin; its count is the independent draw, mean E0. Drawn at random without
  replacement; the run stops with an error if there are fewer candidates than asked.

Both engines run through ``signals.py``'s workers, once each, in fresh subprocesses on the
same Parquet files (planted pairs carry a ``kind``). Besides the counts of EB05 >= 2 the
JSON gives each prior, whether it converged and which parameters sit on (or within 0.1 %
of) a bound, the EB05 a pair with n = 10, E = 2 gets under each fitted prior, the
smallest n that reaches EB05 >= 2 at E = 1.4, 2 and 4, and an **oracle**: the posterior
under the generator's true model (a pair is a signal with prior probability 20 / number
of candidates; lambda is 1 for a null and the planted relative risk for a signal; Poisson
counts). Under that model the posterior of lambda has two points, so its 5 % quantile
is >= 2 exactly when P(signal | n) >= 0.95: the most any calibrated shrinker can flag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import special, stats

HERE = Path(__file__).resolve().parent

RR = 5.0
E_RANGE = (1.4, 4.0)
MIN_PRODUCT_REPORTS = 20
MAX_PRODUCT_SHARE = 1.0 / 40.0
# vigipy.gps defaults: Nelder-Mead within ((EPS, 20), (EPS, 10), (EPS, 20), (EPS, 10), (0, 1))
VIGIPY_EPS = float(np.finfo(np.float32).eps)
VIGIPY_BOUNDS = ((VIGIPY_EPS, 20.0), (VIGIPY_EPS, 10.0)) * 2 + ((0.0, 1.0),)
# cerflow (analysis/gps.py): alpha, beta in 1e-5..1e5, logit P in -15..15
CERFLOW_BOUNDS = ((1e-5, 1e5),) * 4 + ((float(special.expit(-15)), float(special.expit(15))),)
PARAMS = ("alpha1", "beta1", "alpha2", "beta2", "P")


@dataclass(frozen=True)
class Planted:
    products: pl.DataFrame  # report_id, product
    events: pl.DataFrame  # report_id, event
    planted: pl.DataFrame  # product, event, kind, e0, r_t, mu (expected count under truth)
    n_candidates: int


def generate(
    n: int,
    seed: int,
    *,
    n_signals: int = 20,
    n_nulls: int = 1000,
    n_prod: int = 2000,
    n_term: int = 5000,
) -> Planted:
    rng = np.random.default_rng(seed)
    wp = 1.0 / np.arange(1, n_prod + 1) ** 1.1
    wt = 1.0 / np.arange(1, n_term + 1) ** 1.0
    kp = rng.integers(1, 4, n)
    ke = rng.integers(1, 4, n)
    p_rep = np.repeat(np.arange(n), kp)
    e_rep = np.repeat(np.arange(n), ke)
    p_item = rng.choice(n_prod, p_rep.size, p=wp / wp.sum())
    e_item = rng.choice(n_term, e_rep.size, p=wt / wt.sum())
    n_p = np.bincount(np.unique(p_rep * n_prod + p_item) % n_prod, minlength=n_prod)
    r_t = np.bincount(np.unique(e_rep * n_term + e_item) % n_term, minlength=n_term) / n
    e0 = n_p[:, None] * r_t[None, :]
    sized = (n_p >= MIN_PRODUCT_REPORTS) & (n_p <= MAX_PRODUCT_SHARE * n)
    cand = (e0 >= E_RANGE[0]) & (e0 <= E_RANGE[1]) & sized[:, None]
    cand_p, cand_t = np.nonzero(cand)
    n_cand = cand_p.size
    sig: list[int] = []
    used_p: set[int] = set()
    used_t: set[int] = set()
    for i in rng.permutation(n_cand):
        p, t = int(cand_p[i]), int(cand_t[i])
        if p not in used_p and t not in used_t:
            sig.append(int(i))
            used_p.add(p)
            used_t.add(t)
            if len(sig) == n_signals:
                break
    free = np.flatnonzero(~np.isin(cand_p, list(used_p)) & ~np.isin(cand_t, list(used_t)))
    if len(sig) < n_signals or free.size < n_nulls:
        raise SystemExit(
            f"only {len(sig)} signals and {free.size} null candidates with E in {E_RANGE} "
            f"at {n} reports (asked {n_signals} and {n_nulls}): choose another --reports"
        )
    nul = rng.choice(free, n_nulls, replace=False)
    extra_rep, extra_item = [], []
    for i in sig:
        p, t = cand_p[i], cand_t[i]
        reps = np.unique(p_rep[p_item == p])
        hit = reps[rng.random(reps.size) < (RR - 1.0) * r_t[t]]
        extra_rep.append(hit)
        extra_item.append(np.full(hit.size, t))
    e_rep = np.concatenate([e_rep, *extra_rep])
    e_item = np.concatenate([e_item, *extra_item])
    pn = np.array([f"P{i:04d}" for i in range(n_prod)])
    tn = np.array([f"T{i:04d}" for i in range(n_term)])
    idx = np.r_[np.array(sig, dtype=np.int64), nul]
    kind = np.r_[np.full(len(sig), "signal"), np.full(nul.size, "null")]
    pp, tt = cand_p[idx], cand_t[idx]
    e0_planted = e0[pp, tt]
    rr_true = np.where(kind == "signal", 1.0 + (RR - 1.0) * (1.0 - r_t[tt]), 1.0)
    planted = pl.DataFrame(
        {
            "product": pn[pp],
            "event": tn[tt],
            "kind": kind,
            "e0": e0_planted,
            "r_t": r_t[tt],
            "mu": e0_planted * rr_true,
        }
    )
    return Planted(
        products=pl.DataFrame({"report_id": p_rep, "product": pn[p_item]}),
        events=pl.DataFrame({"report_id": e_rep, "event": tn[e_item]}),
        planted=planted,
        n_candidates=int(n_cand),
    )


def observed(data: Planted) -> pl.DataFrame:
    """Each planted pair's count a and expected count E = n_p n_t / N, computed here from
    the generated rows (unique reports), independently of either engine."""
    products = data.products.unique()
    events = data.events.unique()
    n_reports = products["report_id"].n_unique()
    n_p = products.group_by("product").len("n_p")
    n_t = events.group_by("event").len("n_t")
    mine_p = products.join(data.planted.select("product").unique(), on="product")
    mine_e = events.join(data.planted.select("event").unique(), on="event")
    a = mine_p.join(mine_e, on="report_id").group_by("product", "event").len("a")
    return (
        data.planted.join(a, on=["product", "event"], how="left")
        .join(n_p, on="product", how="left")
        .join(n_t, on="event", how="left")
        .with_columns(
            pl.col("a").fill_null(0),
            (pl.col("n_p") * pl.col("n_t") / n_reports).alias("e"),
        )
    )


def oracle(table: pl.DataFrame, prior_signal: float) -> dict[str, Any]:
    """P(signal | a) under the generator's own model (see the module docstring), with
    ``prior_signal`` the share of signals among the pairs the prior is exchangeable over."""
    a = table["a"].to_numpy().astype(float)
    e0 = table["e0"].to_numpy()
    mu1 = e0 * (1.0 + (RR - 1.0) * (1.0 - table["r_t"].to_numpy()))
    log_lr = stats.poisson.logpmf(a, mu1) - stats.poisson.logpmf(a, e0)
    post = special.expit(special.logit(prior_signal) + log_lr)
    flag = post >= 0.95
    kind = table["kind"].to_numpy()
    # smallest count that reaches P(signal) >= 0.95 at E0 = 2 (mu1 ~ 10)
    n_grid = np.arange(0, 80)
    lr2 = stats.poisson.logpmf(n_grid, 2.0 * RR) - stats.poisson.logpmf(n_grid, 2.0)
    need = n_grid[special.expit(special.logit(prior_signal) + lr2) >= 0.95]
    return {
        "prior_signal_probability": float(f"{prior_signal:.4g}"),
        "signals_eb05_ge_2": int(flag[kind == "signal"].sum()),
        "nulls_eb05_ge_2": int(flag[kind == "null"].sum()),
        "p_signal_of_signals_max": float(post[kind == "signal"].max()),
        "p_signal_at_n10_e2": float(
            special.expit(
                special.logit(prior_signal)
                + stats.poisson.logpmf(10, 2.0 * RR)
                - stats.poisson.logpmf(10, 2.0)
            )
        ),
        "min_n_for_eb05_ge_2_at_e2": int(need[0]) if need.size else None,
    }


def on_bounds(
    theta: list[float], bounds: tuple[tuple[float, float], ...], factor: float
) -> list[str]:
    """Parameters within ``factor`` of a bound (ratio for alpha, beta; for P, of P or
    1 - P to the bound's, absolute 1e-9 when the bound is 0 or 1)."""
    out = []
    for name, x, (lo, hi) in zip(PARAMS, theta, bounds, strict=True):
        if name == "P":
            near_lo = x <= lo * factor if lo > 0 else x <= 1e-9
            near_hi = 1 - x <= (1 - hi) * factor if hi < 1 else x >= 1 - 1e-9
        else:
            near_lo, near_hi = x <= lo * factor, x >= hi / factor
        if near_lo or near_hi:
            out.append(f"{name}={x:.4g} ({'lower' if near_lo else 'upper'} bound)")
    return out


def eb05_profile(theta: list[float], table: pl.DataFrame) -> dict[str, Any]:
    """What EB05 >= 2 asks of a weak pair under a fitted prior (cerflow's posterior code;
    vigipy's GPS uses the same gamma-mixture posterior)."""
    from cerflow.analysis import gps

    a1, b1, a2, b2, p = theta
    prior = gps.GpsPrior(alpha1=a1, beta1=b1, alpha2=a2, beta2=b2, p=p)
    n_grid = np.arange(1, 121)
    min_n: dict[str, int | None] = {}
    for e in (1.4, 2.0, 4.0):
        q = gps.posterior_quantile(n_grid, np.full(n_grid.size, e), prior, 0.05)
        ok = n_grid[q >= 2.0]
        min_n[f"E={e}"] = int(ok[0]) if ok.size else None
    sig = table.filter((pl.col("kind") == "signal") & (pl.col("a") > 0))
    eb05 = gps.posterior_quantile(sig["a"].to_numpy(), sig["e"].to_numpy(), prior, 0.05)
    post = gps.gps_posterior([10], [2.0], prior)
    return {
        "eb05_at_n10_e2": round(float(post[1][0]), 4),
        "ebgm_at_n10_e2": round(float(post[0][0]), 4),
        "min_n_for_eb05_ge_2": min_n,
        "signals_eb05_max": round(float(eb05.max()), 4) if eb05.size else None,
        "signals_eb05_ge_2_recomputed": int((eb05 >= 2.0).sum()),
    }


def summary(table: pl.DataFrame, kind: str) -> dict[str, Any]:
    t = table.filter(pl.col("kind") == kind)
    return {
        "planted": t.height,
        "observed_a_ge_1": int((t["a"] > 0).sum()),
        "a_min_median_max": [int(t["a"].min()), float(t["a"].median()), int(t["a"].max())],  # type: ignore[arg-type]
        "e_min_max": [round(float(t["e"].min()), 3), round(float(t["e"].max()), 3)],  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nulls", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from signals import _child

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    t = time.perf_counter()
    data = generate(args.reports, args.seed, n_nulls=args.nulls)
    table = observed(data)
    gen_s = time.perf_counter() - t
    out: dict[str, Any] = {
        "reports": args.reports,
        "seed": args.seed,
        "started": started,
        "generate_s": round(gen_s, 2),
        "candidates": data.n_candidates,
        "signals": summary(table, "signal"),
        "nulls": summary(table, "null"),
    }
    n_sig = int((table["kind"] == "signal").sum())
    # The share of signals among pairs with E in the signals' range (what an analyst who
    # conditions on E knows) and, below, among all observed pairs (what a prior that does
    # not depend on E, as GPS's, can know at best).
    out["oracle_given_e_range"] = oracle(table, n_sig / data.n_candidates)
    with tempfile.TemporaryDirectory(prefix="cerflow-recovery-") as tmp:
        d = Path(tmp)
        data.products.write_parquet(d / "products.parquet")
        data.events.write_parquet(d / "events.parquet")
        data.planted.select("product", "event", "kind").write_parquet(d / "signals.parquet")
        del data
        engines = {"cerflow": _child("cerflow", d), "vigipy": _child("vigipy", d)}
    if "pairs" in engines["cerflow"]:
        out["oracle_all_pairs"] = oracle(table, n_sig / engines["cerflow"]["pairs"])
    for name, res in engines.items():
        if "error" in res:
            out[name] = {"error": res["error"]}
            continue
        by_kind = res["recall"]["by_kind"]
        if name == "cerflow":
            theta = [float(x) for x in res["prior"]["theta"]]
            fit = {"converged": res["prior"]["converged"], "method": res["prior"]["method"]}
            bounds = CERFLOW_BOUNDS
        else:
            theta = [float(x) for x in res["gps"]["theta"]]
            fit = {"convergence": res["gps"].get("convergence")}
            bounds = VIGIPY_BOUNDS
        out[name] = {
            "signals_eb05_ge_2": by_kind["signal"]["ebgm"],
            "nulls_eb05_ge_2": by_kind["null"]["ebgm"],
            "prior": [float(f"{x:.6g}") for x in theta],
            **fit,
            "bounds": [list(b) for b in bounds],
            "on_bound": on_bounds(theta, bounds, 1.001),
            "within_2x_of_bound": on_bounds(theta, bounds, 2.0),
            "posterior": eb05_profile(theta, table),
            "all_four_wall_s": res.get("all_four_wall_s"),
        }
    out["loadavg_before"] = [round(x, 2) for x in load_before]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
