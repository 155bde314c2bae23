"""Benchmark: recovery of weak injected signals by EB05 >= 2, cerflow vs vigipy's GPS.

    uv run python benchmarks/recovery.py [--reports 100000] [--seed S]

An independent generator (not ``_faers_like``): products and terms drawn independently
with Zipf popularity (1-3 of each per report), so every pair not planted is null. Twenty
weak signals: pairs whose expected count E is such that a = 5 E falls in 7-20; every
report naming the product gets the term with probability 4 r (r: the term's report rate),
a report-level relative risk of 5. A thousand planted nulls: pairs with E in the same
range and no injection. Both engines run through ``signals.py``'s workers in fresh
subprocesses on the same Parquet files; prints recall and false signals as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent


def generate(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n_prod, n_term = 2000, 5000
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
    # candidate pairs with a = 5 E in 7..20, i.e. E in 1.4..4
    cand_p = rng.permutation(np.flatnonzero(n_p >= 20))
    chosen: list[tuple[int, int]] = []
    for p in cand_p:
        e_all = n_p[p] * r_t
        ok = np.flatnonzero((e_all >= 1.4) & (e_all <= 4.0))
        if ok.size:
            chosen.append((int(p), int(rng.choice(ok))))
        if len(chosen) == 1020:
            break
    signals, nulls = chosen[:20], chosen[20:]
    extra_rep, extra_item = [], []
    for p, t in signals:
        reps = np.unique(p_rep[p_item == p])
        hit = reps[rng.random(reps.size) < 4.0 * r_t[t]]
        extra_rep.append(hit)
        extra_item.append(np.full(hit.size, t))
    e_rep = np.concatenate([e_rep, *extra_rep])
    e_item = np.concatenate([e_item, *extra_item])
    pn = np.array([f"P{i:04d}" for i in range(n_prod)])
    tn = np.array([f"T{i:04d}" for i in range(n_term)])
    products = pl.DataFrame({"report_id": p_rep, "product": pn[p_item]})
    events = pl.DataFrame({"report_id": e_rep, "event": tn[e_item]})

    def frame(pairs: list[tuple[int, int]]) -> pl.DataFrame:
        return pl.DataFrame(
            {"product": [pn[p] for p, _ in pairs], "event": [tn[t] for _, t in pairs]}
        )

    return products, events, frame(signals), frame(nulls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(HERE))
    from signals import _child

    load_before = os.getloadavg()
    products, events, signals, nulls = generate(args.reports, args.seed)
    out: dict[str, Any] = {"reports": args.reports, "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="cerflow-recovery-") as tmp:
        for name, planted in (("signals", signals), ("nulls", nulls)):
            d = Path(tmp) / name
            d.mkdir()
            products.write_parquet(d / "products.parquet")
            events.write_parquet(d / "events.parquet")
            planted.write_parquet(d / "signals.parquet")
            ours = _child("cerflow", d)
            theirs = _child("vigipy", d)
            out[name] = {
                "planted": planted.height,
                "cerflow_eb05_ge_2": ours.get("recall", {}).get("ebgm", ours.get("error")),
                "vigipy_gps_eb05_ge_2": theirs.get("recall", {}).get("ebgm", theirs.get("error")),
            }
            if name == "signals":
                out["cerflow_prior"] = ours.get("prior")
                out["vigipy_gps_params"] = theirs.get("gps")
    out["loadavg_before"] = [round(x, 2) for x in load_before]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
