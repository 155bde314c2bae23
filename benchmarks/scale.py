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
same in Polars. ``ratio_vs_duckdb`` = cerflow's total / DuckDB's (wall);
``cpu_ratio_vs_duckdb`` the same with CPU seconds (user + system, all threads), which a
loaded machine distorts less. Prints one JSON document.
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


def _cpu_s() -> float:
    """User + system CPU seconds of this process, all threads: on a shared machine the
    fair figure beside wall time (DuckDB and Polars use both cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_cerflow(data: Path, path: str) -> dict[str, Any]:
    import polars as pl

    from cerflow.analysis.disproportionality import compute_signals, count_pairs, count_pairs_lazy

    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0, c0 = time.perf_counter(), _cpu_s()
    if path == "lazy":
        t, c = time.perf_counter(), _cpu_s()
        counts = count_pairs_lazy(
            pl.scan_parquet(data / "products.parquet"), pl.scan_parquet(data / "events.parquet")
        )
        stages["count_pairs_s"], cpu["count_pairs_s"] = time.perf_counter() - t, _cpu_s() - c
    else:
        t, c = time.perf_counter(), _cpu_s()
        products = pl.read_parquet(data / "products.parquet")
        events = pl.read_parquet(data / "events.parquet")
        stages["read_s"], cpu["read_s"] = time.perf_counter() - t, _cpu_s() - c
        t, c = time.perf_counter(), _cpu_s()
        counts = count_pairs(products, events)
        stages["count_pairs_s"], cpu["count_pairs_s"] = time.perf_counter() - t, _cpu_s() - c
        del products, events
    rss_counted = _rss_mb()
    t, c = time.perf_counter(), _cpu_s()
    result = compute_signals(counts)
    stages["statistics_and_gps_s"] = time.perf_counter() - t
    cpu["statistics_and_gps_s"] = _cpu_s() - c
    total, total_cpu = time.perf_counter() - t0, _cpu_s() - c0
    prior = result.prior
    assert prior is not None
    signals = pl.read_parquet(data / "signals.parquet")
    hits = signals.join(result.table, on=["product", "event"], how="left")
    return {
        "path": path,
        "total_s": round(total, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "total_cpu_s": round(total_cpu, 3),
        "stages_cpu_s": {k: round(v, 3) for k, v in cpu.items()},
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
    t, c = time.perf_counter(), _cpu_s()
    res = con.sql(
        f"SELECT p.product, e.event, count(*) AS n FROM '{p}' p JOIN '{e}' e "
        "USING (report_id) GROUP BY p.product, e.event"
    ).fetchnumpy()
    duck, duck_cpu = time.perf_counter() - t, _cpu_s() - c
    rss_duck = _rss_mb()
    t, c = time.perf_counter(), _cpu_s()
    pol = (
        pl.scan_parquet(p)
        .join(pl.scan_parquet(e), on="report_id")
        .group_by("product", "event")
        .len()
        .collect()
    )
    polars_s, polars_cpu = time.perf_counter() - t, _cpu_s() - c
    return {
        "duckdb_pair_count_s": round(duck, 3),
        "duckdb_pair_count_cpu_s": round(duck_cpu, 3),
        "polars_pair_count_cpu_s": round(polars_cpu, 3),
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
        report["cpu_ratio_vs_duckdb"] = round(
            ours["total_cpu_s"] / ref["duckdb_pair_count_cpu_s"], 2
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
