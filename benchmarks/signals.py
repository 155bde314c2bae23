"""Benchmark: all-pairs PRR/ROR/IC/EBGM (with the GPS fit) on a FAERS-like set, vs vigipy.

    uv run python benchmarks/signals.py --reports 1000000 [--no-vigipy] [--seed S]

Generates the data once (see ``_faers_like.py``), writes it to a temporary Parquet pair,
then runs cerflow and vigipy each in a fresh subprocess so that wall time and peak RSS
(``ru_maxrss``) belong to one engine only. Prints one JSON document: seconds per stage,
pairs, peak RSS, the speed ratio and the recall of the 20 injected signals per method.

vigipy is given what its API expects: a (product, event, count) table where count is the
number of unique reports with the pair (built with Polars, timed separately as
``prepare_s``); it then runs ``convert``, ``prr``, ``ror``, ``bcpnn`` and ``gps`` with
``min_events=1`` (all pairs, as cerflow) and otherwise default settings. Flags for
vigipy: PRR >= 2, a >= 3 and Yates chi2 >= 4 computed from its own margins (Evans);
ROR CI lower > 1; BCPNN IC025 ("quantile") > 0; GPS LowerBound (EB05) >= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _recall(table: pl.DataFrame, signals: pl.DataFrame, flags: dict[str, str]) -> dict[str, Any]:
    """Flagged planted pairs per method; with a ``kind`` column (recovery.py plants
    signals and nulls in one set) also per kind, so one run per engine serves both."""
    hits = signals.join(table, on=["product", "event"], how="left")

    def counts(h: pl.DataFrame) -> dict[str, Any]:
        return {method: int(h[col].fill_null(False).sum()) for method, col in flags.items()} | {
            "injected": h.height,
            "injected_pairs_found": int(h["a"].is_not_null().sum()),
        }

    out = counts(hits)
    if "kind" in hits.columns:
        out["by_kind"] = {
            str(kind): counts(hits.filter(pl.col("kind") == kind))
            for kind in sorted(hits["kind"].unique().to_list())
        }
    return out


def run_cerflow(data: Path) -> dict[str, Any]:
    from cerflow.analysis import gps
    from cerflow.analysis.disproportionality import (
        compute_signals,
        count_pairs,
        disproportionality,
    )

    products = pl.read_parquet(data / "products.parquet")
    events = pl.read_parquet(data / "events.parquet")
    signals = pl.read_parquet(data / "signals.parquet")
    rss_loaded = _rss_mb()

    t0 = time.perf_counter()
    result = disproportionality(products, events)
    wall = time.perf_counter() - t0
    rss_peak = _rss_mb()
    recall = _recall(
        result.table,
        signals,
        {"prr_evans": "flag_evans", "ror": "flag_ror", "ic": "flag_ic", "ebgm": "flag_ebgm"},
    )
    prior = result.prior
    assert prior is not None
    del result

    stages: dict[str, float] = {}
    t = time.perf_counter()
    counts = count_pairs(products, events)
    stages["count_pairs_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compute_signals(counts, methods=["prr", "ror", "ic"])
    stages["prr_ror_ic_s"] = time.perf_counter() - t
    t = time.perf_counter()
    fitted = gps.fit_gps_prior(counts.a, counts.expected)
    stages["gps_fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compute_signals(counts, methods=["ebgm"], prior=fitted)
    stages["ebgm_posterior_s"] = time.perf_counter() - t
    return {
        "all_four_wall_s": round(wall, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "pairs": counts.n_pairs,
        "reports": counts.n_reports,
        "rss_after_loading_mb": round(rss_loaded, 1),
        "peak_rss_mb": round(rss_peak, 1),
        "prior": {
            "theta": [round(x, 6) for x in prior.theta],
            "loglik": prior.loglik,
            "converged": prior.converged,
            "method": prior.method,
        },
        "recall": recall,
    }


def run_vigipy(data: Path) -> dict[str, Any]:
    import warnings

    import pandas as pd
    import vigipy

    warnings.filterwarnings("ignore")
    products = pl.read_parquet(data / "products.parquet").unique()
    events = pl.read_parquet(data / "events.parquet").unique()
    signals = pl.read_parquet(data / "signals.parquet")
    stages: dict[str, float] = {}
    t = time.perf_counter()
    table = products.join(events, on="report_id").group_by("product", "event").len("count")
    frame = pd.DataFrame(
        {
            "name": table["product"].to_list(),
            "AE": table["event"].to_list(),
            "count": table["count"].to_numpy(),
        }
    )
    stages["prepare_s"] = time.perf_counter() - t
    t0 = time.perf_counter()
    container = vigipy.convert(frame)
    stages["convert_s"] = time.perf_counter() - t0
    out: dict[str, pd.DataFrame] = {}
    params: dict[str, Any] = {}
    for name, fn, kwargs in (
        ("prr", vigipy.prr, {"decision_metric": "rank", "decision_thres": 1.0}),
        ("ror", vigipy.ror, {"decision_metric": "rank", "decision_thres": 1.0}),
        ("bcpnn", vigipy.bcpnn, {"ranking_statistic": "quantile"}),
        ("gps", vigipy.gps, {}),
    ):
        t = time.perf_counter()
        res = fn(container, min_events=1, **kwargs)
        stages[f"{name}_s"] = time.perf_counter() - t
        out[name] = res.all_signals
        if name == "gps":
            params = {k: str(v) for k, v in (res.params or {}).items() if k != "input_params"}
            # numeric (alpha1, beta1, alpha2, beta2, P) for bound checks in recovery.py
            params["theta"] = [float(x) for x in (res.params or {}).get("prior_param", [])]
    wall = time.perf_counter() - t0
    n_total = float(container.N)

    def frame_of(df: pd.DataFrame, cols: list[str]) -> pl.DataFrame:
        return pl.DataFrame({c: df[c].tolist() for c in cols}).rename(
            {"Product": "product", "Adverse Event": "event"}
        )

    prr = frame_of(
        out["prr"], ["Product", "Adverse Event", "Count", "PRR", "product margin", "event margin"]
    )
    a = prr["Count"].to_numpy().astype(float)
    n1 = prr["product margin"].to_numpy().astype(float)
    n2 = prr["event margin"].to_numpy().astype(float)
    b, c = n1 - a, n2 - a
    d = n_total - n1 - n2 + a
    den = n1 * (n_total - n1) * n2 * (n_total - n2)
    yates = np.where(
        den > 0,
        n_total
        * np.maximum(np.abs(a * d - b * c) - n_total / 2, 0) ** 2
        / np.where(den > 0, den, 1),
        0.0,
    )
    flags = prr.with_columns(
        a=pl.col("Count"),
        flag_prr=(pl.col("PRR") >= 2) & (pl.col("Count") >= 3) & pl.Series(yates >= 4),
    ).select("product", "event", "a", "flag_prr")
    for name, col, rule in (
        ("ror", "CI Lower", lambda s: s > 1),
        ("bcpnn", "quantile", lambda s: s > 0),
        ("gps", "LowerBound", lambda s: s >= 2),
    ):
        f = frame_of(out[name], ["Product", "Adverse Event", col])
        flags = flags.join(
            f.select("product", "event", rule(pl.col(col)).alias(f"flag_{name}")),
            on=["product", "event"],
            how="left",
        )
    recall = _recall(
        flags,
        signals,
        {"prr_evans": "flag_prr", "ror": "flag_ror", "ic": "flag_bcpnn", "ebgm": "flag_gps"},
    )
    return {
        "all_four_wall_s": round(wall, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "pairs": len(out["prr"]),
        "peak_rss_mb": round(_rss_mb(), 1),
        "gps": params,
        "recall": recall,
    }


def _child(engine: str, data: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", engine, "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return dict(json.loads(proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--vigipy", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--worker", choices=["cerflow", "vigipy"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = run_cerflow if args.worker == "cerflow" else run_vigipy
        print(json.dumps(fn(args.data)))
        return

    sys.path.insert(0, str(HERE))
    from _faers_like import generate

    load_before = os.getloadavg()
    t = time.perf_counter()
    data = generate(args.reports, seed=args.seed)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="cerflow-bench-") as tmp:
        tmp_path = Path(tmp)
        data.products.write_parquet(tmp_path / "products.parquet")
        data.events.write_parquet(tmp_path / "events.parquet")
        data.signals.write_parquet(tmp_path / "signals.parquet")
        ours = _child("cerflow", tmp_path)
        theirs = _child("vigipy", tmp_path) if args.vigipy else None
    report: dict[str, Any] = {
        "reports": args.reports,
        "seed": args.seed,
        "rows": {"report_product": data.products.height, "report_event": data.events.height},
        "products": data.products["product"].n_unique(),
        "terms": data.events["event"].n_unique(),
        "generate_s": round(gen_s, 2),
        "cerflow": ours,
        "vigipy": theirs,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if theirs and "error" not in theirs and "error" not in ours:
        report["speedup_vs_vigipy"] = round(theirs["all_four_wall_s"] / ours["all_four_wall_s"], 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
