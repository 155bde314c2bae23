"""Benchmark: one realistic FAERS quarter, read + ETL + load, into PostgreSQL and SQLite.

    uv run python benchmarks/ingest.py [--reports 400000] [--backend pg|sqlite|both]
        [--path columnar|record|both] [--reimport]

`--path columnar` (default) times what `cerflow ingest faers` runs: `etl.faers_columnar`
(stages `read_s`: tables parsed and deduplicated, `etl_s`: canonical values and hashes) then
`etl.faers_columnar.load_quarter` (`load_s`); `import_s` is the whole, wall clock.
`--path record` times the per-record path (reader, reader+ETL, full import): canonical
reports from `sources.faers_ascii` + `etl.faers` into `etl.load_reports.load_reports`, which
turns them into frames for the same loader; MAUDE, openFDA and sample imports take it.

Generates (seeded) a current-layout quarterly zip of the size of a real quarter (~400k
reports, ~4 drugs and ~3.3 reactions per report, 2 % multi-version cases), then times the
whole `cerflow ingest faers` path into a fresh PostgreSQL database on 127.0.0.1:5432 (created
and dropped here) and a fresh SQLite file. Prints JSON: seconds per stage, rows/s, peak RSS.
Stages are timed separately (reader alone, reader+ETL, full import) because the import
interleaves them; `load_only_s` is the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text

from cerflow.db import make_engine
from cerflow.etl.faers import faers_reports
from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load_reports import load_reports
from cerflow.sources.faers_ascii import FaersQuarter
from cerflow.store import migrate

PG_ADMIN = os.environ.get(
    "CERFLOW_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

DEMO_COLS = (
    "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$auth_num$"
    "mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$wt_cod$rept_dt$to_mfr$occp_cod$"
    "reporter_country$occr_country"
)
DRUG_COLS = (
    "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route$dose_vbm$cum_dose_chr$"
    "cum_dose_unit$dechal$rechal$lot_num$exp_dt$nda_num$dose_amt$dose_unit$dose_form$dose_freq"
)
INGREDIENTS = [
    f"{stem}{suffix}"
    for stem in (
        "ATORVA",
        "ROSUVA",
        "SIMVA",
        "PRAVA",
        "METFOR",
        "LISINO",
        "AMLODI",
        "OMEPRA",
        "ADALIMU",
        "ETANER",
        "INFLIXI",
        "PREDNI",
        "METHOTRE",
        "ACETAMINO",
        "IBUPRO",
        "LEVOTHYRO",
        "WARFA",
        "APIXA",
        "RIVAROXA",
        "INSULIN ",
    )
    for suffix in (
        "STATIN",
        "MIN",
        "PRIL",
        "PINE",
        "ZOLE",
        "MAB",
        "CEPT",
        "SONE",
        "XATE",
        "PHEN",
        "XINE",
        "RIN",
        "BAN",
        "GLARGINE",
        "NIB",
        "VIR",
        "CILLIN",
        "DIPINE",
        "TIDE",
        "OL",
    )
]
SALTS = ("", "", "", " HYDROCHLORIDE", " SODIUM", " CALCIUM")
FORMS = ("", "", " 10 MG", " 20 MG TABLET", " 500MG/5ML", " 40 MG/0.8 ML")
PTS = [f"Adverse event term {i}" for i in range(6000)]
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "JP", "CA", "BR", "IT")
OUTCOMES = ("OT", "OT", "HO", "HO", "DE", "LT", "DS", "RI", "CA")


def generate(path: Path, reports: int, seed: int = 20170402) -> dict[str, int]:
    """Write a quarterly zip; rows grouped per case in primaryid order like FDA's files."""
    rng = random.Random(seed)
    counts = dict.fromkeys(("demo", "drug", "reac", "outc", "rpsr", "ther", "indi"), 0)
    plain = path.parent / "plain"
    plain.mkdir(exist_ok=True)
    handles: dict[str, Any] = {}
    headers = {
        "demo": DEMO_COLS,
        "drug": DRUG_COLS,
        "reac": "primaryid$caseid$pt$drug_rec_act",
        "outc": "primaryid$caseid$outc_cod",
        "rpsr": "primaryid$caseid$rpsr_cod",
        "ther": "primaryid$caseid$dsg_drug_seq$start_dt$end_dt$dur$dur_cod",
        "indi": "primaryid$caseid$indi_drug_seq$indi_pt",
    }
    for table in headers:
        handles[table] = (plain / f"{table.upper()}24Q1.txt").open("wb")
    buffers: dict[str, list[str]] = {t: [h] for t, h in headers.items()}

    def flush(force: bool = False) -> None:
        for table, lines in buffers.items():
            if lines and (force or len(lines) > 20000):
                handles[table].write(("\n".join(lines) + "\n").encode("latin-1"))
                lines.clear()

    caseid = 10_000_000
    written = 0
    while written < reports:
        caseid += rng.randint(1, 3)
        versions = 2 if rng.random() < 0.02 else 1
        for version in range(1, versions + 1):
            if written >= reports:
                break
            written += 1
            pid = caseid * 10 + version
            ids = f"{pid}${caseid}"
            year = rng.choice(("2023", "2022", "2021"))
            event_dt = rng.choice(
                (
                    year,
                    f"{year}0{rng.randint(1, 9)}",
                    f"{year}0{rng.randint(1, 9)}1{rng.randint(0, 9)}",
                    "",
                )
            )
            age = rng.choice(("", str(rng.randint(1, 95)), str(rng.randint(1, 95))))
            buffers["demo"].append(
                f"{ids}${version}${'I' if version == 1 else 'F'}${event_dt}$20240105$"
                f"{year}0315$2024011{rng.randint(0, 9)}$EXP$$US-MFR-{pid}$MFR INC$$"
                f"{age}${'YR' if age else ''}$$"
                f"{rng.choice(('F', 'M', '', 'UNK'))}$Y$$$20240110$$"
                f"{rng.choice(('MD', 'CN', 'HP', 'PH', 'OT'))}${rng.choice(COUNTRIES)}$"
                f"{rng.choice(COUNTRIES)}"
            )
            n_drugs = max(1, min(30, int(rng.expovariate(1 / 4.0)) + 1))
            for seq in range(1, n_drugs + 1):
                ing = rng.choice(INGREDIENTS)
                name = ing + rng.choice(SALTS) + rng.choice(FORMS)
                role = "PS" if seq == 1 else rng.choice(("SS", "C", "C", "C", "I"))
                buffers["drug"].append(
                    f"{ids}${seq}${role}${name}${ing}$1$Oral$10 MG, QD$$$U$U$$$0{seq}$10$MG$"
                    "TABLET$QD"
                )
                if rng.random() < 0.5:
                    buffers["ther"].append(f"{ids}${seq}${year}0101$$$$")
                    counts["ther"] += 1
                if rng.random() < 0.6:
                    buffers["indi"].append(f"{ids}${seq}$Product used for unknown indication")
                    counts["indi"] += 1
            counts["drug"] += n_drugs
            n_reac = max(1, min(25, int(rng.expovariate(1 / 2.6)) + 1))
            for pt in rng.sample(PTS[:300] if rng.random() < 0.7 else PTS, n_reac):
                buffers["reac"].append(f"{ids}${pt}$")
            counts["reac"] += n_reac
            if rng.random() < 0.6:
                for code in sorted(set(rng.choices(OUTCOMES, k=rng.randint(1, 2)))):
                    buffers["outc"].append(f"{ids}${code}")
                    counts["outc"] += 1
            if rng.random() < 0.1:
                buffers["rpsr"].append(f"{ids}$HP")
                counts["rpsr"] += 1
            counts["demo"] += 1
        flush()
    flush(force=True)
    for handle in handles.values():
        handle.close()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member in sorted(plain.iterdir()):
            zf.write(member, f"ascii/{member.name}")
            member.unlink()
    plain.rmdir()
    return counts


class PeakRss:
    """Samples this process's RSS every 50 ms (ru_maxrss only ever grows, so it can't
    attribute a peak to one stage)."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


def time_reader(zip_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with PeakRss() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        with FaersQuarter(zip_path) as q:
            q.scan()
            t1 = time.perf_counter()
            n = sum(1 for _ in q.records())
            t2 = time.perf_counter()
    out["read_cpu_s"] = round(time.process_time() - c0, 2)
    out.update(
        scan_s=round(t1 - t0, 2), read_s=round(t2 - t0, 2), cases=n, peak_rss_mb=_mb(rss.peak)
    )
    with PeakRss() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        with FaersQuarter(zip_path) as q:
            m = sum(1 for _ in faers_reports(q.records()))
        out["read_etl_cpu_s"] = round(time.process_time() - c0, 2)
        out.update(
            read_etl_s=round(time.perf_counter() - t0, 2), reports=m, peak_rss_etl_mb=_mb(rss.peak)
        )
    return out


def _stored_counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("reports", "report_products", "report_events")
        }


def time_import(url: str, zip_path: Path, rows: int, reimport: bool) -> dict[str, Any]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with PeakRss() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        with FaersQuarter(zip_path) as q:
            stats = load_reports(
                engine, faers_reports(q.records()), q.provenance, source_stats=q.stats
            )
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
    extra: dict[str, Any] = {}
    if reimport:
        with PeakRss() as rss2:
            t1 = time.perf_counter()
            with FaersQuarter(zip_path) as q:
                again = load_reports(
                    engine, faers_reports(q.records()), q.provenance, source_stats=q.stats
                )
            extra = {
                "reimport_s": round(time.perf_counter() - t1, 2),
                "reimport_peak_rss_mb": _mb(rss2.peak),
                "reimport": again.as_dict(),
            }
    counts = _stored_counts(engine)
    engine.dispose()
    return {
        "import_s": round(seconds, 2),
        "import_client_cpu_s": round(cpu, 2),
        "reports_per_s": round(stats.inserted / seconds),
        "input_rows_per_s": round(rows / seconds),
        "peak_rss_mb": _mb(rss.peak),
        "load": stats.as_dict(),
        "stored": counts,
        **extra,
    }


def time_columnar_import(url: str, zip_path: Path, rows: int, reimport: bool) -> dict[str, Any]:
    """The `cerflow ingest faers` path: columnar frames, then the report loader."""
    engine = make_engine(url)
    migrate.upgrade(engine)

    def run() -> tuple[Any, dict[str, float], float, float, int]:
        with PeakRss() as rss:
            t0, c0 = time.perf_counter(), time.process_time()
            frames = read_faers_frames(zip_path)
            t1 = time.perf_counter()
            stats = load_quarter(engine, frames)
            t2 = time.perf_counter()
            cpu = time.process_time() - c0
        stages = {**frames.timings, "load_s": round(t2 - t1, 2)}
        return stats, stages, t2 - t0, cpu, rss.peak

    stats, stages, seconds, cpu, peak = run()
    extra: dict[str, Any] = {}
    if reimport:
        again, stages2, seconds2, _cpu2, peak2 = run()
        extra = {
            "reimport_s": round(seconds2, 2),
            "reimport_stages": stages2,
            "reimport_peak_rss_mb": _mb(peak2),
            "reimport": again.as_dict(),
        }
    counts = _stored_counts(engine)
    engine.dispose()
    return {
        "import_s": round(seconds, 2),
        "stages": stages,
        "import_client_cpu_s": round(cpu, 2),
        "reports_per_s": round(stats.inserted / seconds),
        "input_rows_per_s": round(rows / seconds),
        "peak_rss_mb": _mb(peak),
        "load": stats.as_dict(),
        "stored": counts,
        **extra,
    }


def _backend_runs(
    args: argparse.Namespace, tmp: str, zip_path: Path, rows: int, path: str
) -> dict[str, Any]:
    timer = time_columnar_import if path == "columnar" else time_import
    out: dict[str, Any] = {}
    if args.backend in ("pg", "both"):
        admin = make_engine(PG_ADMIN)
        name = f"cerflow_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            out["postgresql"] = timer(url, zip_path, rows, args.reimport)
            out["postgresql"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    if args.backend in ("sqlite", "both"):
        db = Path(tmp) / f"bench-{path}.db"
        out["sqlite"] = timer(f"sqlite:///{db}", zip_path, rows, args.reimport)
        out["sqlite"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=400_000)
    parser.add_argument("--backend", choices=("pg", "sqlite", "both"), default="both")
    parser.add_argument("--seed", type=int, default=20170402)
    parser.add_argument("--reimport", action="store_true", help="also time a second import")
    parser.add_argument("--path", choices=("columnar", "record", "both"), default="columnar")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "reports_requested": args.reports,
        "cpu_count": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="cerflow-bench-") as tmp:
        zip_path = Path(tmp) / "faers_ascii_2024q1.zip"
        t0 = time.perf_counter()
        counts = generate(zip_path, args.reports, args.seed)
        result["generate_s"] = round(time.perf_counter() - t0, 2)
        result["input_rows"] = counts
        result["zip_mb"] = _mb(zip_path.stat().st_size)
        rows = sum(counts.values())
        paths = ("columnar", "record") if args.path == "both" else (args.path,)
        for path in paths:
            if path == "record":
                result["record"] = {"reader": time_reader(zip_path)}
                result["record"].update(_backend_runs(args, tmp, zip_path, rows, path))
            else:
                result["columnar"] = _backend_runs(args, tmp, zip_path, rows, path)
    result["process_max_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
