"""Benchmark: one realistic FAERS quarter, read + ETL + load, into PostgreSQL and SQLite.

    uv run python benchmarks/ingest.py [--reports 400000] [--backend pg|sqlite|both]
        [--path columnar|record|both] [--reimport] [--db-collate C]
    uv run python benchmarks/ingest.py --backend pg --ab-collate [--ab-rounds 2]
    uv run python benchmarks/ingest.py --quarters 84 [--profile flat|faers]
        [--reports-per-quarter N] [--plant-reports N] [--progress-file PATH]
        [--keep-database NAME] [--disk-path /work]

The PostgreSQL databases are created like the store (`cerflow.store.collation`:
LC_COLLATE 'C', LC_CTYPE 'C.UTF-8'); `--db-collate` picks another LC_COLLATE, and
`--ab-collate` times the quarter into 'C' and 'C.UTF-8' databases side by side
(`ab_collate`).

History mode (`--quarters`): see `run_history`; `--profile faers` sizes the quarters like
the real 2004-2024 history (`FAERS_RAMP`, 26.1M DEMO rows over 84 quarters).

`--path columnar` (default) times what `cerflow ingest faers` runs: `etl.faers_columnar`
(stages `read_s`: tables parsed and deduplicated, `etl_s`: canonical values and hashes) then
`etl.faers_columnar.load_quarter` (`load_s`); `import_s` is the whole, wall clock.
`--path record` times the per-record path (reader, reader+ETL, full import): canonical
reports from `sources.faers_ascii` + `etl.faers` into `etl.load_reports.load_reports`, which
turns them into frames for the same loader; MAUDE, openFDA and sample imports take it.

Generates (seeded) a current-layout quarterly zip of the size of a real quarter (~400k
reports, ~4 drugs and ~3.3 reactions per report, 2 % multi-version cases), then times the
whole `cerflow ingest faers` path into a fresh PostgreSQL database on 127.0.0.1:5432 (created
and dropped here) and a fresh SQLite file. Prints JSON: seconds per stage, rows/s, peak RSS,
and CPU seconds (client per stage; for the load the PostgreSQL backend's and its parallel
index-build workers', `ServerCpu`), steadier than wall time on a shared machine.
Stages are timed separately (reader alone, reader+ETL, full import) because the import
interleaves them; `load_only_s` is the difference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from array import array
from collections.abc import MutableSequence, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import psutil
from sqlalchemy import event, text

from cerflow.db import make_engine
from cerflow.etl import load_reports as load_reports_module
from cerflow.etl.faers import faers_reports
from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load_common import EVENT_COLUMNS, PRODUCT_COLUMNS, REPORT_COLUMNS
from cerflow.etl.load_reports import _insert as _copy_into
from cerflow.etl.load_reports import load_reports
from cerflow.sources.faers_ascii import FaersQuarter
from cerflow.store import collation, migrate

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


def generate(
    path: Path,
    reports: int,
    seed: int = 20170402,
    *,
    quarter: str = "24Q1",
    first_caseid: int = 10_000_000,
    followups: Sequence[int] = (),
    followup_version: int = 2,
    deleted: Sequence[int] = (),
    new_cases: MutableSequence[int] | None = None,
    plant: tuple[str, int] | None = None,
    planted_cases: set[int] | None = None,
) -> dict[str, int]:
    """Write a quarterly zip; rows grouped per case in primaryid order like FDA's files.

    History mode (`run_history`): `followups` are earlier quarters' caseids re-reported here
    at `followup_version` (FAERS follow-ups: a new primaryid, a higher caseversion),
    `deleted` goes to the quarter's deleted-cases member, the new caseids start after
    `first_caseid` and are appended to `new_cases`. `reports` counts every DEMO row.
    `plant` (ingredient, k): the first k new cases take that ingredient as their primary
    suspect drug (a product with a known number of reports for the report benchmark);
    `counts["planted"]` says how many did; their caseids are added to `planted_cases`, and
    a follow-up of a caseid in it keeps that ingredient.
    """
    rng = random.Random(seed)
    counts = dict.fromkeys(("demo", "drug", "reac", "outc", "rpsr", "ther", "indi"), 0)
    counts["last_caseid"] = first_caseid
    counts["planted"] = 0
    plain = path.parent / f"plain-{quarter}"
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
        handles[table] = (plain / f"{table.upper()}{quarter}.txt").open("wb")
    buffers: dict[str, list[str]] = {t: [h] for t, h in headers.items()}

    def flush(force: bool = False) -> None:
        for table, lines in buffers.items():
            if lines and (force or len(lines) > 20000):
                handles[table].write(("\n".join(lines) + "\n").encode("latin-1"))
                lines.clear()

    def case(caseid: int, version: int, pid: int, planted: str = "") -> None:
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
            ing = planted if planted and seq == 1 else rng.choice(INGREDIENTS)
            name = ing + rng.choice(SALTS) + rng.choice(FORMS)
            role = "PS" if seq == 1 else rng.choice(("SS", "C", "C", "C", "I"))
            buffers["drug"].append(
                f"{ids}${seq}${role}${name}${ing}$1$Oral$10 MG, QD$$$U$U$$$0{seq}$10$MG$TABLET$QD"
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

    written = 0
    for caseid in sorted(followups)[:reports]:  # primaryids of follow-ups: caseid*100+version
        keep = plant[0] if plant and planted_cases is not None and caseid in planted_cases else ""
        case(caseid, followup_version, caseid * 100 + followup_version, keep)
        written += 1
        flush()
    caseid = first_caseid
    while written < reports:
        caseid += rng.randint(1, 3)
        if new_cases is not None:
            new_cases.append(caseid)
        versions = 2 if rng.random() < 0.02 else 1
        for version in range(1, versions + 1):
            if written >= reports:
                break
            written += 1
            plant_here = plant is not None and counts["planted"] < plant[1]
            case(caseid, version, caseid * 10 + version, plant[0] if plant_here and plant else "")
            if plant_here and version == versions:
                counts["planted"] += 1
                if planted_cases is not None:
                    planted_cases.add(caseid)
        flush()
    counts["last_caseid"] = caseid
    flush(force=True)
    for handle in handles.values():
        handle.close()
    if deleted:
        (plain / f"DELETED{quarter}.txt").write_text("".join(f"{c}\n" for c in sorted(deleted)))
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


class ServerCpu:
    """CPU seconds of the PostgreSQL backends this engine's connections run on (a local
    server: read from /proc). Steadier than wall time on a shared machine.

    `watch()` also samples, every `interval` s while it runs, the parallel workers those
    backends start (index builds: `parallel worker for PID n`); a worker's CPU after its
    last sample is missed (at most `interval` each), so `parallel_seconds` is a floor."""

    def __init__(self, engine: Any, interval: float = 0.1) -> None:
        self.pids: set[int] = set()
        self.interval = interval
        self._workers: dict[int, float] = {}  # worker pid -> CPU seconds at its last sample
        self._seen: dict[int, bool] = {}  # pid -> is one of our parallel workers
        self._stop = threading.Event()
        if engine.dialect.name != "postgresql":
            return

        @event.listens_for(engine, "connect")
        def _pid(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self.pids.add(int(cur.fetchone()[0]))

    def seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system
        return total

    def parallel_seconds(self) -> float:
        return sum(self._workers.values())

    def _sample(self, postmaster: int) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) != postmaster:  # fields[1]: ppid
                    continue
                ours = self._seen.get(pid)
                if ours is None:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                    ours = any(f"parallel worker for PID {p}" in cmd for p in self.pids)
                    self._seen[pid] = ours
                if ours:  # fields[11], [12]: utime, stime in clock ticks
                    self._workers[pid] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                continue

    def watch(self) -> threading.Thread | None:
        """Start sampling parallel workers (until `stop()`); None off PostgreSQL."""
        if not self.pids:
            return None
        try:
            postmaster = psutil.Process(next(iter(self.pids))).ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(self.interval):
                self._sample(postmaster)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread | None) -> None:
        self._stop.set()
        if thread is not None:
            thread.join()


def time_columnar_import(url: str, zip_path: Path, rows: int, reimport: bool) -> dict[str, Any]:
    """The `cerflow ingest faers` path: columnar frames, then the report loader."""
    engine = make_engine(url)
    server = ServerCpu(engine)
    migrate.upgrade(engine)

    def run() -> tuple[Any, dict[str, float], float, float, int]:
        with PeakRss() as rss:
            t0, c0, s0 = time.perf_counter(), time.process_time(), server.seconds()
            p0 = server.parallel_seconds()
            frames = read_faers_frames(zip_path)
            t1, c1 = time.perf_counter(), time.process_time()
            watcher = server.watch()
            try:
                stats = load_quarter(engine, frames)
            finally:
                server.stop(watcher)
            t2 = time.perf_counter()
            cpu = time.process_time() - c0
        backend = server.seconds() - s0
        parallel = server.parallel_seconds() - p0
        stages = {
            **frames.timings,
            "load_s": round(t2 - t1, 2),
            "read_etl_client_cpu_s": round(c1 - c0, 2),
            "load_client_cpu_s": round(time.process_time() - c1, 2),
            "load_server_backend_cpu_s": round(backend, 2),
            "load_server_parallel_workers_cpu_s": round(parallel, 2),
            "load_server_cpu_s": round(backend + parallel, 2),
        }
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
    floor: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        frames = read_faers_frames(zip_path)
        floor = {
            "floor_bare_copy_s": _bare_copy_s(engine, frames),
            "size_on_disk": _db_sizes(engine),
        }
    engine.dispose()
    return {
        "import_s": round(seconds, 2),
        "stages": stages,
        **floor,
        "import_client_cpu_s": round(cpu, 2),
        "reports_per_s": round(stats.inserted / seconds),
        "input_rows_per_s": round(rows / seconds),
        "peak_rss_mb": _mb(peak),
        "load": stats.as_dict(),
        "stored": counts,
        **extra,
    }


def _bare_copy_s(engine: Any, frames: Any) -> float:
    """The hardware floor: the same rows COPYed (same CSV path) into bare copies of the three
    tables (no index, no constraint but NOT NULL), in one transaction, then dropped."""
    rep = frames.reports.rename({"report_row": "id"}).with_columns(
        pl.lit(None, dtype=pl.Int64).alias("snapshot_id")
    )
    prod = frames.products.rename({"report_row": "report_id"}).with_row_index("id")
    ev = frames.events.rename({"report_row": "report_id"}).with_row_index("id")
    with engine.begin() as conn:
        for table in ("reports", "report_products", "report_events"):
            conn.execute(text(f"CREATE TABLE bench_bare_{table} (LIKE {table})"))
        t0 = time.perf_counter()
        _copy_into(conn, "bench_bare_reports", rep.select(REPORT_COLUMNS))
        _copy_into(conn, "bench_bare_report_products", prod.select("id", *PRODUCT_COLUMNS))
        _copy_into(conn, "bench_bare_report_events", ev.select("id", *EVENT_COLUMNS))
        seconds = time.perf_counter() - t0
        for table in ("reports", "report_products", "report_events"):
            conn.execute(text(f"DROP TABLE bench_bare_{table}"))
    return round(seconds, 2)


def _fresh_db(admin: Any, collate: str = collation.STORE_LC_COLLATE) -> str:
    """A new store database (the store's collation unless `collate` says otherwise)."""
    name = f"cerflow_bench_{uuid.uuid4().hex[:8]}"
    collation.create_database(admin, name, collate=collate)
    return name


def _drop_db(admin: Any, name: str) -> None:
    collation.drop_database(admin, name)


def _db_sizes(engine: Any) -> dict[str, float]:
    with engine.connect() as conn:
        out = {
            "database_mb": conn.execute(
                text("SELECT pg_database_size(current_database())")
            ).scalar_one()
        }
        for table in ("reports", "report_products", "report_events"):
            out[f"{table}_mb"] = conn.execute(
                text(f"SELECT pg_total_relation_size('{table}')")
            ).scalar_one()
    return {k: _mb(v) for k, v in out.items()}


def keep_indexes_import(zip_path: Path, collate: str) -> dict[str, Any]:
    """The loader with its index rebuild switched off (the path before it; also what a
    quarter into a store larger than itself takes), into another fresh database."""
    admin = make_engine(PG_ADMIN)
    name = _fresh_db(admin, collate)
    saved = load_reports_module._REBUILD_MIN_ROWS
    try:
        engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
        migrate.upgrade(engine)
        load_reports_module._REBUILD_MIN_ROWS = 1 << 62
        t0 = time.perf_counter()
        frames = read_faers_frames(zip_path)
        t1 = time.perf_counter()
        load_quarter(engine, frames)
        t2 = time.perf_counter()
        engine.dispose()
        return {
            "import_s": round(t2 - t0, 2),
            "load_s": round(t2 - t1, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }
    finally:
        load_reports_module._REBUILD_MIN_ROWS = saved
        _drop_db(admin, name)
        admin.dispose()


# Quarter sizes of the real FAERS history, 2004Q1-2024Q4 (84 quarters), as knots
# (quarter index, DEMO rows) joined by straight lines: about 70k a quarter in 2004, 130k by
# the end of 2007, 320k by the end of 2012, 430k by the end of 2017, 450k in 2024Q4; in all
# about 25.9M DEMO rows (FDA's published quarterly counts grew roughly like this; the
# whole public history is 25-30M reports).
FAERS_RAMP = ((0, 70_000), (15, 130_000), (35, 320_000), (55, 430_000), (83, 450_000))
PLANTED_INGREDIENT = "HISTORYSTATIN"
MIN_FREE_GB = 8.0


def quarter_sizes(profile: str, quarters: int, per_quarter: int) -> list[int]:
    """DEMO rows per quarter: `flat` = `per_quarter` each; `faers` = `FAERS_RAMP`
    (quarters beyond the 84th stay at its last size)."""
    if profile == "flat":
        return [per_quarter] * quarters
    sizes = []
    for i in range(quarters):
        for (x0, y0), (x1, y1) in itertools.pairwise(FAERS_RAMP):
            if i <= x1:
                sizes.append(round(y0 + (y1 - y0) * max(0, i - x0) / (x1 - x0)))
                break
        else:
            sizes.append(FAERS_RAMP[-1][1])
    return sizes


def _free_gb(path: str) -> float:
    return round(shutil.disk_usage(path).free / 2**30, 1)


def run_history(args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    """`--quarters Q`: Q generated quarters imported one after the other into one fresh
    PostgreSQL database, with follow-up versions of earlier cases (`--followup-rate` of each
    quarter's reports) and deleted-cases lists naming earlier cases (`--delete-rate`).
    `--profile faers` sizes the quarters like the real history (`FAERS_RAMP`), `flat` gives
    each `--reports-per-quarter`. `--plant-reports N` spreads N cases of one product
    (`PLANTED_INGREDIENT` as primary suspect) over the quarters in proportion to their size;
    follow-ups of them keep it.
    Per quarter: import seconds (read/etl/load) and the bare-COPY floor of the same rows,
    one JSON line to stderr and to `--progress-file` (cumulative figures and size on disk
    included, so a run stopped midway still gives figures). Stops cleanly before a quarter
    when `--disk-path` has less than `MIN_FREE_GB` free (the store and the generated zips
    share that disk). At the end the stored counts, the loader's counts summed, and the
    size on disk. `--keep-database NAME` creates the store under that name and leaves it."""
    admin = make_engine(PG_ADMIN)
    name = args.keep_database or f"cerflow_bench_{uuid.uuid4().hex[:8]}"
    if args.keep_database:  # fails if it exists: never reuse
        collation.create_database(admin, name, collate=args.db_collate)
    else:
        name = _fresh_db(admin, args.db_collate)
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    rng = random.Random(args.seed + 1)
    pool: array[int] = array("q")
    planted_cases: set[int] = set()
    caseid = 10_000_000
    per_quarter: list[dict[str, Any]] = []
    totals = dict.fromkeys(("inserted", "updated", "unchanged", "deleted", "rejected"), 0)
    import_s = floor_s = generate_s = 0.0
    sizes = quarter_sizes(args.profile, args.quarters, args.reports_per_quarter)
    plant_left = args.plant_reports
    planted = 0
    stopped: str | None = None
    free_start = _free_gb(args.disk_path)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        wall0 = time.perf_counter()
        for i, n in enumerate(sizes):
            free = _free_gb(args.disk_path)
            if free < MIN_FREE_GB:
                stopped = f"free space on {args.disk_path} {free} GB < {MIN_FREE_GB} GB"
                if args.progress_file:
                    with Path(args.progress_file).open("a") as progress:
                        progress.write(json.dumps({"stopped_before": i, "reason": stopped}) + "\n")
                break
            tag = f"{(4 + i // 4) % 100:02d}Q{i % 4 + 1}"  # 04Q1 (2004) onward
            k_follow = min(len(pool), int(n * args.followup_rate))
            k_delete = min(len(pool), int(n * args.delete_rate))
            picks = rng.sample(range(len(pool)), k_follow + k_delete) if pool else []
            # this quarter's share of the planted product (all of what is left in the last)
            k_plant = round(plant_left * n / sum(sizes[i:]))
            plant_left -= k_plant
            zip_path = Path(tmp) / f"faers_ascii_20{tag}.zip"
            t0 = time.perf_counter()
            counts = generate(
                zip_path,
                n,
                args.seed + i,
                quarter=tag,
                first_caseid=caseid,
                followups=[pool[j] for j in picks[:k_follow]],
                followup_version=i + 2,
                deleted=[pool[j] for j in picks[k_follow:]],
                new_cases=pool,
                plant=(PLANTED_INGREDIENT, k_plant) if k_plant else None,
                planted_cases=planted_cases,
            )
            caseid = counts["last_caseid"]
            planted += counts["planted"]
            t1 = time.perf_counter()
            frames = read_faers_frames(zip_path)
            stats = load_quarter(engine, frames)
            t2 = time.perf_counter()
            floor = _bare_copy_s(engine, frames)
            timings = frames.timings
            del frames
            zip_path.unlink()
            generate_s += t1 - t0
            import_s += t2 - t1
            floor_s += floor
            for key in totals:
                totals[key] += getattr(stats, key)
            with engine.connect() as conn:
                db_bytes = conn.execute(
                    text("SELECT pg_database_size(current_database())")
                ).scalar_one()
            per_quarter.append(
                {
                    "quarter": tag,
                    "demo_rows": n,
                    "import_s": round(t2 - t1, 2),
                    **timings,
                    "load_s": round(t2 - t1 - sum(timings.values()), 2),
                    "floor_copy_s": floor,
                    "inserted": stats.inserted,
                    "updated": stats.updated,
                    "deleted": stats.deleted,
                    "stored_reports_cum": totals["inserted"] - totals["deleted"],
                    "import_s_cum": round(import_s, 1),
                    "floor_copy_s_cum": round(floor_s, 1),
                    "wall_s_cum": round(time.perf_counter() - wall0, 1),
                    "database_mb": _mb(db_bytes),
                    "free_gb": _free_gb(args.disk_path),
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                    "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
            line = json.dumps(per_quarter[-1])
            print(line, file=sys.stderr, flush=True)
            if args.progress_file:
                with Path(args.progress_file).open("a") as progress:
                    progress.write(line + "\n")
        wall = time.perf_counter() - wall0
        stored = _stored_counts(engine)
        db_sizes = _db_sizes(engine)
        with engine.connect() as conn:
            planted_rows = conn.execute(
                text(
                    "SELECT p.product_key, count(DISTINCT p.report_id) FROM report_products p"
                    " WHERE p.product_key = (SELECT product_key FROM report_products"
                    "  WHERE raw_name LIKE :n LIMIT 1) GROUP BY p.product_key"
                ),
                {"n": PLANTED_INGREDIENT + "%"},
            ).all()
        engine.dispose()
    finally:
        if not args.keep_database:
            _drop_db(admin, name)
        admin.dispose()
    return {
        "profile": args.profile,
        "quarters_planned": len(sizes),
        "quarters_done": len(per_quarter),
        "stopped_early": stopped,
        "demo_rows_planned": sum(sizes),
        "demo_rows_done": sum(q["demo_rows"] for q in per_quarter),
        "followup_rate": args.followup_rate,
        "delete_rate": args.delete_rate,
        "import_s_total": round(import_s, 1),
        "floor_copy_s_total": round(floor_s, 1),
        "import_over_floor": round(import_s / floor_s, 2) if floor_s else None,
        "generate_s_total": round(generate_s, 1),
        "wall_s": round(wall, 1),
        "loader_totals": totals,
        "stored": stored,
        "stored_equals_inserted_minus_deleted": stored["reports"]
        == totals["inserted"] - totals["deleted"],
        "size_on_disk": db_sizes,
        "free_gb_start": free_start,
        "free_gb_end": _free_gb(args.disk_path),
        "planted": {
            "ingredient": PLANTED_INGREDIENT,
            "cases_generated": planted,
            "product_key_stored": planted_rows[0][0] if planted_rows else None,
            "reports_stored": planted_rows[0][1] if planted_rows else 0,
        },
        "database_kept": url if args.keep_database else None,
        "per_quarter": per_quarter,
    }


def _pg_run(timer: Any, collate: str, zip_path: Path, rows: int, reimport: bool) -> dict[str, Any]:
    """One timed import into a fresh PostgreSQL database created with `collate`."""
    admin = make_engine(PG_ADMIN)
    name = _fresh_db(admin, collate)
    try:
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        check = make_engine(url)
        with check.connect() as conn:
            made = collation.database_collation(conn)
        check.dispose()
        before = round(os.getloadavg()[0], 2)
        out: dict[str, Any] = timer(url, zip_path, rows, reimport)
        out["lc_collate"] = made.collate if made else None
        out["loadavg_1m_before"] = before
        out["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
        return out
    finally:
        _drop_db(admin, name)
        admin.dispose()


AB_COLLATIONS = ("C", "C.UTF-8")
AB_FIGURES = (
    "import_s",
    "load_s",
    "read_etl_client_cpu_s",
    "load_client_cpu_s",
    "load_server_backend_cpu_s",
    "load_server_parallel_workers_cpu_s",
    "load_server_cpu_s",
)


def ab_collate(args: argparse.Namespace, zip_path: Path, rows: int) -> dict[str, Any]:
    """`--ab-collate`: the same quarter into fresh databases created with LC_COLLATE 'C'
    and 'C.UTF-8' (`AB_COLLATIONS`, then any `--ab-also`), `--ab-rounds` rounds, each
    round's order the reverse of the last (C, C.UTF-8 | C.UTF-8, C | ...) so a drift of
    the machine's load falls on both alike. Per collation the median of each figure; the
    ratio of each collation's medians over C's (and C's over C.UTF-8's); the per-round
    differences C minus C.UTF-8 of the server CPU (pairs run next to each other)."""
    collations = (*AB_COLLATIONS, *args.ab_also)
    rounds: list[dict[str, dict[str, Any]]] = []
    runs = []
    for i in range(args.ab_rounds):
        rounds.append({})
        for collate in collations if i % 2 == 0 else collations[::-1]:
            run = _pg_run(time_columnar_import, collate, zip_path, rows, False)
            if run["lc_collate"] != collate:
                raise SystemExit(f"database created with {run['lc_collate']}, not {collate}")
            runs.append(
                {
                    "round": i + 1,
                    "lc_collate": collate,
                    "import_s": run["import_s"],
                    **{k: run["stages"][k] for k in AB_FIGURES[1:]},
                    "floor_bare_copy_s": run.get("floor_bare_copy_s"),
                    "loadavg_1m_before": run["loadavg_1m_before"],
                    "loadavg_1m_after": run["loadavg_1m_after"],
                    "stored": run["stored"],
                }
            )
            rounds[-1][collate] = runs[-1]
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    median: dict[str, dict[str, float]] = {}
    for collate in collations:
        mine = [r for r in runs if r["lc_collate"] == collate]
        median[collate] = {k: round(statistics.median(r[k] for r in mine), 2) for k in AB_FIGURES}

    def ratio(a: dict[str, float], b: dict[str, float]) -> dict[str, float | None]:
        return {k: round(a[k] / b[k], 3) if b[k] else None for k in AB_FIGURES}

    c, utf8 = AB_COLLATIONS
    return {
        "collations": list(collations),
        "rounds": args.ab_rounds,
        "runs": runs,
        "median": median,
        "ratio_c_over_c_utf8": ratio(median[c], median[utf8]),
        "ratio_over_c": {x: ratio(median[x], median[c]) for x in collations[1:]},
        "server_cpu_c_minus_c_utf8_per_round": [
            round(r[c]["load_server_cpu_s"] - r[utf8]["load_server_cpu_s"], 2) for r in rounds
        ],
        "same_rows_stored": len({json.dumps(r["stored"], sort_keys=True) for r in runs}) == 1,
    }


def _backend_runs(
    args: argparse.Namespace, tmp: str, zip_path: Path, rows: int, path: str
) -> dict[str, Any]:
    timer = time_columnar_import if path == "columnar" else time_import
    out: dict[str, Any] = {}
    if args.backend in ("pg", "both"):
        out["postgresql"] = _pg_run(timer, args.db_collate, zip_path, rows, args.reimport)
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
    parser.add_argument(
        "--keep-indexes-too",
        action="store_true",
        help="also time the loader with its index rebuild off, in the same run (pg)",
    )
    parser.add_argument(
        "--quarters", type=int, default=0, help="history mode: this many quarters in one store"
    )
    parser.add_argument("--reports-per-quarter", type=int, default=100_000)
    parser.add_argument("--followup-rate", type=float, default=0.05)
    parser.add_argument("--delete-rate", type=float, default=0.002)
    parser.add_argument(
        "--profile",
        choices=("flat", "faers"),
        default="flat",
        help="history quarter sizes: flat (--reports-per-quarter each) or faers (real ramp)",
    )
    parser.add_argument(
        "--plant-reports",
        type=int,
        default=0,
        help=f"history: this many cases of {PLANTED_INGREDIENT} spread over the quarters",
    )
    parser.add_argument("--progress-file", help="history: one JSON line per quarter here")
    parser.add_argument(
        "--keep-database", help="history: create the store under this name and keep it"
    )
    parser.add_argument("--disk-path", default="/work", help="history: free space watched here")
    parser.add_argument(
        "--db-collate",
        default=collation.STORE_LC_COLLATE,
        help="LC_COLLATE of the benchmark's PostgreSQL databases (default: the store's, C)",
    )
    parser.add_argument(
        "--ab-collate",
        action="store_true",
        help="pg: time the quarter into C and C.UTF-8 databases side by side (ABBA rounds)",
    )
    parser.add_argument("--ab-rounds", type=int, default=2, help="--ab-collate: rounds")
    parser.add_argument(
        "--ab-also",
        nargs="*",
        default=[],
        metavar="LC_COLLATE",
        help="--ab-collate: more collations in the same rounds (e.g. en_US.UTF-8)",
    )
    args = parser.parse_args()
    if args.quarters:
        with tempfile.TemporaryDirectory(prefix="cerflow-bench-") as tmp:
            out = {
                "cpu_count": os.cpu_count(),
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "history": run_history(args, tmp),
                "loadavg_1m_end": round(os.getloadavg()[0], 2),
            }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
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
        counts.pop("last_caseid")
        counts.pop("planted")
        rows = sum(counts.values())
        if args.ab_collate:
            result["ab_collate"] = ab_collate(args, zip_path, rows)
            result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
            json.dump(result, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        paths = ("columnar", "record") if args.path == "both" else (args.path,)
        for path in paths:
            if path == "record":
                result["record"] = {"reader": time_reader(zip_path)}
                result["record"].update(_backend_runs(args, tmp, zip_path, rows, path))
            else:
                result["columnar"] = _backend_runs(args, tmp, zip_path, rows, path)
                if args.keep_indexes_too and args.backend != "sqlite":
                    result["columnar"]["postgresql_keep_indexes"] = keep_indexes_import(
                        zip_path, args.db_collate
                    )
    result["process_max_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
