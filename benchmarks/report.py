"""Benchmark: a full CER from stored data for a product with 50,000 reports.

    uv run python benchmarks/report.py [--reports 50000] [--background 50000]
                                       [--backend sqlite|pg|both] [--out DIR]

Fills a fresh store (a SQLite file; a PostgreSQL database on 127.0.0.1:5432 created and
dropped here) through the real loader with seeded `CanonicalReport`s: the product
(BENCHSTATIN, suspect) with `--reports` reports over 60 months, and a background of
`--background` reports over 200 other drugs; about 2.5 events per report from 400 terms,
with a planted signal. Then times one full report the way `cerflow report --offline` makes
it: facts (store reads + all analysis), narrative, charts + documents (PDF, DOCX, HTML,
facts.json). Prints JSON per backend: seconds per stage and in total. Facts are timed
twice with a fresh signal cache (`cerflow.report.signal_cache`): `facts_s` is the first
report after data land (miss: background read and GPS prior fit), `facts_cached_s` any
later report of the same kind (hit); `cpu_s` / `per_format_s[*_cpu_s]` are CPU seconds
(this process and the forked PDF child), steadier than wall time on a shared machine;
`total_s` / `total_cached_s` add narrative and
documents to each (not `imports_s`, the lazy imports timed apart first), and
`cached_facts_identical` checks the two give the same facts. The fill is not part of the
figure (it is the ingest benchmark's business).

BLAS is limited to one thread (as the report pipeline does): on a shared 2-core machine
OpenBLAS threads spinning against each other make statsmodels several times slower.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime as dt
import importlib
import json
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _bulk_fill import bulk_background, database_size  # this folder: run as a script
from sqlalchemy import Engine, text

from cerflow.config import Settings
from cerflow.db import make_engine
from cerflow.etl.load_reports import load_reports
from cerflow.etl.records import (
    CanonicalEvent,
    CanonicalProduct,
    CanonicalReport,
    PartialDate,
)
from cerflow.narrative.facts import Facts
from cerflow.narrative.render import write_narrative
from cerflow.report.facts_builder import build_facts
from cerflow.report.pipeline import _render
from cerflow.report.signal_cache import SignalCache
from cerflow.sources.base import Provenance
from cerflow.store import migrate

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PRODUCT = "BENCHSTATIN"
TERMS = [f"benchmark term {i:03d}" for i in range(400)]
SIGNAL = "rhabdomyolysis"


def _reports(n: int, background: int, seed: int = 4) -> Iterator[CanonicalReport]:
    rng = random.Random(seed)
    start = dt.date(2020, 1, 1)
    drugs = [f"BGDRUG{i:03d}" for i in range(200)]
    weights = [1.0 / (i + 1) for i in range(len(TERMS))]
    for i in range(n + background):
        is_product = i < n
        # Growing volume: later months are more likely for the product.
        month = int(60 * (rng.random() ** (0.8 if is_product else 1.0)))
        day = start + dt.timedelta(days=month * 30.4 + rng.randint(0, 27))
        k = 1 + int(rng.random() * 3)
        terms = set(rng.choices(TERMS, weights=weights, k=k))
        if (is_product and rng.random() < 0.05) or (not is_product and rng.random() < 0.002):
            terms.add(SIGNAL)
        key = PRODUCT if is_product else rng.choice(drugs)
        products = [CanonicalProduct(role="suspect", product_key=key, raw_name=key)]
        if rng.random() < 0.3:
            products.append(
                CanonicalProduct(role="concomitant", product_key=rng.choice(drugs), seq=1)
            )
        serious = rng.random() < 0.4
        yield CanonicalReport(
            source="faers",
            source_key=f"b{i}",
            kind="drug",
            source_version=1,
            received=PartialDate(day, "D"),
            country=rng.choice(["US", "GB", "DE", "FR", "JP", None]),
            sex=rng.choice(["F", "M", None]),
            age_years=round(rng.uniform(18, 90), 0) if rng.random() < 0.7 else None,
            serious=serious,
            death=serious and rng.random() < 0.05,
            hospitalization=serious and rng.random() < 0.5,
            products=products,
            events=[CanonicalEvent(term=t, term_raw=t.capitalize()) for t in sorted(terms)],
        )


def _fill(engine: Engine, n: int, background: int) -> float:
    t = time.perf_counter()
    prov = Provenance(
        source="benchmark", location="memory://benchmark", sha256="0" * 64, is_generated=True
    )
    load_reports(engine, _reports(n, background), prov)
    return time.perf_counter() - t


def _same(facts: Facts) -> dict[str, Any]:
    data = facts.model_dump(mode="json")
    data["meta"].pop("generated_at")
    return data


def _warm_imports() -> float:
    """Import what the report imports lazily (statsmodels, ruptures, matplotlib, WeasyPrint,
    python-docx) and time it apart: a worker pays it once, not per report, and in a checkout
    without compiled bytecode (PYTHONDONTWRITEBYTECODE, no __pycache__) it takes seconds."""
    t = time.perf_counter()
    for name in (
        "statsmodels.tsa.exponential_smoothing.ets",
        "statsmodels.tsa.arima.model",
        "ruptures",
        "cerflow.report.render",
        "cerflow.report.docx",
    ):
        importlib.import_module(name)
    from cerflow.report import pdf

    pdf._weasyprint()
    return time.perf_counter() - t


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the forked PDF renderer): on
    a shared machine far steadier than wall time, which other processes' load inflates."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _time_report(
    engine: Engine, out: Path, product: str = PRODUCT, cache_dir: Path | None = None
) -> dict[str, Any]:
    timings: dict[str, float] = {"imports_s": _warm_imports()}
    cpu: dict[str, float] = {}
    cache = SignalCache(cache_dir or Path(tempfile.mkdtemp(prefix="cerflow-bench-cache-")))
    t0, c0 = time.perf_counter(), _cpu()
    facts = build_facts(engine, drug=product, settings=Settings(), signal_cache=cache)
    timings["facts_s"] = time.perf_counter() - t0  # first report after the load: cache miss
    cpu["facts_cpu_s"] = _cpu() - c0
    t0, c0 = time.perf_counter(), _cpu()
    cached = build_facts(engine, drug=product, settings=Settings(), signal_cache=cache)
    timings["facts_cached_s"] = time.perf_counter() - t0  # any later report of this kind
    cpu["facts_cached_cpu_s"] = _cpu() - c0
    if cache_dir is None:
        shutil.rmtree(cache.directory, ignore_errors=True)
    t, c0 = time.perf_counter(), _cpu()
    narrative = write_narrative(facts)
    timings["narrative_s"] = time.perf_counter() - t
    cpu["narrative_cpu_s"] = _cpu() - c0
    stages: dict[str, float] = {}
    for fmt in ("json", "html", "pdf", "docx"):  # one renderer call per format, timed apart
        t, c0 = time.perf_counter(), _cpu()
        files = _render(facts, narrative, out, [fmt])
        stages[f"{fmt}_s"] = time.perf_counter() - t
        stages[f"{fmt}_cpu_s"] = _cpu() - c0
        if fmt not in files:
            stages[f"{fmt}_s"] = float("nan")
    t, c0 = time.perf_counter(), _cpu()
    files = _render(facts, narrative, out / "all", ["pdf", "docx", "html", "json"])
    timings["charts_and_documents_s"] = time.perf_counter() - t
    cpu["charts_and_documents_cpu_s"] = _cpu() - c0  # parent + forked PDF child
    timings["total_s"] = (
        timings["facts_s"] + timings["narrative_s"] + timings["charts_and_documents_s"]
    )
    timings["total_cached_s"] = (
        timings["facts_cached_s"] + timings["narrative_s"] + timings["charts_and_documents_s"]
    )
    return {
        **{k: round(v, 3) for k, v in timings.items()},
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "per_format_s": {k: round(v, 3) for k, v in stages.items()},
        "cached_facts_identical": _same(cached) == _same(facts),
        "files": sorted(files),
        "product_reports": facts.volumes.total_reports,
        "background_reports": facts.signals.background_reports if facts.signals else None,
        "signals": len(facts.signals.signals) if facts.signals else None,
        "forecast_method": facts.forecast.method if facts.forecast else None,
    }


def _run_existing(args: argparse.Namespace) -> dict[str, Any]:
    """The report of `--product` on the store at `--database-url`: nothing filled, nothing
    dropped (the store belongs to someone else)."""
    engine = make_engine(args.database_url)
    try:
        result = _time_report(engine, args.out / "existing", args.product, args.signal_cache)
        return {"backend": engine.dialect.name, "store": "existing", **result}
    finally:
        engine.dispose()


def _run(
    backend: str, n: int, background: int, out: Path, bulk: int = 0, keep: bool = False
) -> dict[str, Any]:
    if bulk and backend != "pg":
        raise SystemExit("--background-reports fills PostgreSQL only: use --backend pg")
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="cerflow-bench-")
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        cleanup = None
    else:
        admin = make_engine(PG_ADMIN)
        name = f"cerflow_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)

        def cleanup() -> None:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    extra: dict[str, Any] = {}
    try:
        migrate.upgrade(engine)
        fill_s = _fill(engine, n, background)
        if bulk:
            extra["bulk_fill_s"] = round(bulk_background(engine, reports=bulk), 1)
            extra["database_bytes"] = database_size(engine)
        if keep:
            extra["kept_database_url"] = engine.url.render_as_string(hide_password=True)
        result = _time_report(engine, out / backend)
        return {"backend": backend, "fill_s": round(fill_s, 1), **extra, **result}
    finally:
        engine.dispose()
        if cleanup and not keep:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=50_000)
    parser.add_argument("--background", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "pg", "both"], default="sqlite")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cerflow-bench")
    parser.add_argument(
        "--background-reports",
        type=int,
        default=0,
        help="also generate this many background reports server-side (PostgreSQL only)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="do not drop the filled database (prints its URL)"
    )
    parser.add_argument("--database-url", help="report on this EXISTING store; nothing filled")
    parser.add_argument("--product", default=PRODUCT, help="drug key to report on")
    parser.add_argument(
        "--signal-cache",
        type=Path,
        help="signal cache directory to keep between runs (default: a fresh temporary one)",
    )
    args = parser.parse_args()
    if args.database_url:
        results = [_run_existing(args)]
    else:
        backends = ["sqlite", "pg"] if args.backend == "both" else [args.backend]
        results = [
            _run(b, args.reports, args.background, args.out, args.background_reports, args.keep)
            for b in backends
        ]
    print(
        json.dumps(
            {"benchmark": "report", "load_average": os.getloadavg(), "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
