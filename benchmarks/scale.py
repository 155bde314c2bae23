"""Benchmark: all-pairs PRR/ROR/IC/EBGM (with the GPS fit) at full-history scale.

    uv run python benchmarks/scale.py --reports 20000000 [--path memory|lazy] [--seed S]

FAERS-like vocabularies (see ``_faers_like.py``): 6,000 products, 15,000 terms, Zipf
popularity, 2-3 products and 2-3 events per report, integer codes as a store's ids.
The set is generated first (``generate_s``, reported apart) and written to Parquet in a
temporary directory. cerflow then runs in a fresh subprocess (seconds per stage, peak
RSS via ``ru_maxrss``) from the Parquet files; ``--path lazy`` counts pairs out of core
(``count_pairs_lazy``, Polars streaming). The reference, in another fresh subprocess of
the same run, is a plain pair count from the same files: DuckDB
``SELECT product, event, count(*) ... JOIN ... GROUP BY`` fetched to NumPy, and the
same in Polars. ``ratio_vs_duckdb`` = cerflow's total / DuckDB's. Prints one JSON document.
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

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_cerflow(data: Path, path: str) -> dict[str, Any]:
    import polars as pl

    from cerflow.analysis.disproportionality import compute_signals, count_pairs, count_pairs_lazy

    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    if path == "lazy":
        t = time.perf_counter()
        counts = count_pairs_lazy(
            pl.scan_parquet(data / "products.parquet"), pl.scan_parquet(data / "events.parquet")
        )
        stages["count_pairs_s"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        products = pl.read_parquet(data / "products.parquet")
        events = pl.read_parquet(data / "events.parquet")
        stages["read_s"] = time.perf_counter() - t
        t = time.perf_counter()
        counts = count_pairs(products, events)
        stages["count_pairs_s"] = time.perf_counter() - t
        del products, events
    rss_counted = _rss_mb()
    t = time.perf_counter()
    result = compute_signals(counts)
    stages["statistics_and_gps_s"] = time.perf_counter() - t
    total = time.perf_counter() - t0
    prior = result.prior
    assert prior is not None
    signals = pl.read_parquet(data / "signals.parquet")
    hits = signals.join(result.table, on=["product", "event"], how="left")
    return {
        "path": path,
        "total_s": round(total, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "pairs": counts.n_pairs,
        "reports": counts.n_reports,
        "rss_after_counting_mb": round(rss_counted, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "prior": {
            "theta": [float(f"{x:.6g}") for x in prior.theta],
            "converged": prior.converged,
            "method": prior.method,
        },
        "eb05_ge_2_of_injected": int(hits["flag_ebgm"].fill_null(False).sum()),
        "injected": signals.height,
    }


def run_reference(data: Path) -> dict[str, Any]:
    import duckdb
    import polars as pl

    p, e = data / "products.parquet", data / "events.parquet"
    con = duckdb.connect()
    t = time.perf_counter()
    res = con.sql(
        f"SELECT p.product, e.event, count(*) AS n FROM '{p}' p JOIN '{e}' e "
        "USING (report_id) GROUP BY p.product, e.event"
    ).fetchnumpy()
    duck = time.perf_counter() - t
    rss_duck = _rss_mb()
    t = time.perf_counter()
    pol = (
        pl.scan_parquet(p)
        .join(pl.scan_parquet(e), on="report_id")
        .group_by("product", "event")
        .len()
        .collect()
    )
    polars_s = time.perf_counter() - t
    return {
        "duckdb_pair_count_s": round(duck, 3),
        "duckdb_pairs": len(res["n"]),
        "duckdb_peak_rss_mb": round(rss_duck, 1),
        "polars_pair_count_s": round(polars_s, 3),
        "polars_pairs": pol.height,
    }


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return dict(json.loads(proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--path", choices=["memory", "lazy"], default="memory")
    parser.add_argument("--worker", choices=["cerflow", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        out = run_cerflow(args.data, args.path) if args.worker == "cerflow" else None
        print(json.dumps(out if out is not None else run_reference(args.data)))
        return

    sys.path.insert(0, str(HERE))
    from _faers_like import generate

    load_before = os.getloadavg()
    t = time.perf_counter()
    data = generate(
        args.reports,
        n_products=6000,
        n_terms=15000,
        products_per_report=(2, 3),
        events_per_report=(2, 3),
        labels=False,
        seed=args.seed,
    )
    gen_s = time.perf_counter() - t
    rows = {"report_product": data.products.height, "report_event": data.events.height}
    with tempfile.TemporaryDirectory(prefix="cerflow-scale-") as tmp:
        tmp_path = Path(tmp)
        data.products.write_parquet(tmp_path / "products.parquet")
        data.events.write_parquet(tmp_path / "events.parquet")
        data.signals.write_parquet(tmp_path / "signals.parquet")
        del data
        ours = _child(["--worker", "cerflow", "--data", tmp, "--path", args.path])
        ref = _child(["--worker", "reference", "--data", tmp])
    report: dict[str, Any] = {
        "reports": args.reports,
        "seed": args.seed,
        "rows": rows,
        "generate_s": round(gen_s, 2),
        "cerflow": ours,
        "reference": ref,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if "error" not in ours and "error" not in ref:
        report["ratio_vs_duckdb"] = round(ours["total_s"] / ref["duckdb_pair_count_s"], 2)
        report["ratio_vs_polars"] = round(ours["total_s"] / ref["polars_pair_count_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
