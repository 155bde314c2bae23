"""Minutes of mixed load on the whole stack: latency per time slice and RSS per process.

    uv run python benchmarks/soak.py [--minutes 3] [--slice-seconds 30] [--out soak.json]

The stack is the one the fault test runs (`tests/system/stack.py`): two API processes
(`cerflow serve`), two Celery workers, beat, a Redis of its own and a fresh PostgreSQL
database seeded with the system tests' small device store. A local openFDA
(`tests/replay/openfda_server.py`, filled from the real examples when the shared data
folder is there) answers the refresh jobs.

Load: reader threads (product detail, job status, report listing, round robin over both
APIs), one report job (json) every `--report-every` seconds and one product refresh
(an ingest job against the replay openFDA) every `--refresh-every` seconds. Every
`--sample-seconds` the RSS of each process is sampled with psutil (a worker counts its
pool children). Prints JSON: per slice the request count, errors and p50/p95/p99 per
kind and the jobs finished; per process the RSS series and its growth from the first
slice's mean to the last's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import SecretStr
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from tests.replay.openfda_server import OpenFDAReplayServer, build_dataset
from tests.system.stack import SECRET, Stack, read_mix
from tests.system.store_seed import SIGNAL_CODE, seed

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.jobs.models import Job
from cerflow.store import collation, migrate
from cerflow.unit_of_work import unit_of_work

ADMIN_URL = os.environ.get(
    "CERFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SHARED = Path(
    os.environ.get("CERFLOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data/real")
)


@dataclass
class Sample:
    t: float
    kind: str
    status: int  # 0 = transport error
    latency: float


def _driver(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def _create_db() -> str:
    name = f"cerflow_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_driver(ADMIN_URL), poolclass=NullPool)
    collation.create_database(admin, name)
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_db(url: str) -> None:
    admin = create_engine(_driver(ADMIN_URL), poolclass=NullPool)
    collation.drop_database(admin, url.rsplit("/", 1)[1])
    admin.dispose()


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1)


def _epoch(value: dt.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def _rss_mb(pid: int) -> float | None:
    """The process and its children (a prefork worker's pool, uvicorn's workers)."""
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
    except psutil.Error:
        return None
    return round(total / 2**20, 1)


def _openfda() -> tuple[OpenFDAReplayServer, str]:
    """A replay openFDA and a device code it knows (PSG, an empty answer, without data)."""
    records: dict[str, list[dict[str, Any]]] = {}
    code = SIGNAL_CODE
    if (SHARED / "openfda_api_examples").is_dir():
        try:
            records = build_dataset(SHARED, device_events=40, device_recalls=6)
            for doc in records.get("/device/event.json", []):
                for dev in doc.get("device", []):
                    if dev.get("device_report_product_code"):
                        code = dev["device_report_product_code"]
                        break
                if code != SIGNAL_CODE:
                    break
        except (OSError, KeyError, ValueError):
            records = {}
    return OpenFDAReplayServer(records).start(), code


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="cerflow-soak-"))
    db_url = _create_db()
    engine = create_engine(_driver(db_url), poolclass=NullPool)
    migrate.upgrade(engine)
    seed(engine, prefix="soak")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    openfda, refresh_code = _openfda()
    stack = Stack(workdir, db_url, extra_env={"CERFLOW_OPENFDA_BASE_URL": openfda.base_url})
    samples: list[Sample] = []
    lock = threading.Lock()
    stop = threading.Event()
    job_ids: list[str] = []
    rss: dict[str, list[tuple[float, float | None]]] = {}
    try:
        stack.start()
        settings = Settings(
            environment=Environment.PRODUCTION, database_url=db_url, secret_key=SecretStr(SECRET)
        )
        with unit_of_work(factory) as session:
            user = auth_service.create_user(
                session=session,
                email=f"soak-{uuid.uuid4().hex[:6]}@example.org",
                password="pw-" + "s" * 20,
                role=Role.ANALYST,
            )
            token = auth_service.issue_tokens(
                session=session, settings=settings, user=user
            ).access_token
        headers = {"Authorization": f"Bearer {token}"}
        urls = stack.base_urls

        def call(client: httpx.Client, kind: str, method: str, url: str, **kw: Any) -> Any:
            t = time.time()
            start = time.perf_counter()
            try:
                resp = client.request(method, url, **kw)
                status = resp.status_code
            except httpx.HTTPError:
                resp, status = None, 0
            with lock:
                samples.append(Sample(t, kind, status, time.perf_counter() - start))
            return resp

        def reader(n: int) -> None:
            read_mix(
                n,
                urls=urls,
                headers=headers,
                product=SIGNAL_CODE,
                job_ids=job_ids,
                lock=lock,
                stop=stop,
                request=call,
                pause=args.read_pause,
            )

        def every(seconds: float, kind: str, path: str, body: dict[str, Any] | None) -> None:
            clients = [httpx.Client(base_url=u, headers=headers, timeout=15) for u in urls]
            i = 0
            while not stop.wait(seconds):
                resp = call(clients[i % len(clients)], kind, "POST", path, json=body)
                i += 1
                if resp is not None and resp.status_code == 202:
                    with lock:
                        job_ids.append(resp.json()["job_id"])
            for c in clients:
                c.close()

        def sampler() -> None:
            while True:
                now = time.time()
                for role, pid in stack.pids().items():
                    rss.setdefault(role, []).append((now, _rss_mb(pid)))
                if stop.wait(args.sample_seconds):
                    return

        threads = [threading.Thread(target=reader, args=(n,)) for n in range(args.readers)]
        threads.append(
            threading.Thread(
                target=every,
                args=(
                    args.report_every,
                    "submit_report",
                    "/api/v1/reports",
                    {"product_ref": SIGNAL_CODE, "formats": ["json"]},
                ),
            )
        )
        threads.append(
            threading.Thread(
                target=every,
                args=(
                    args.refresh_every,
                    "submit_refresh",
                    f"/api/v1/products/{refresh_code}/refresh",
                    None,
                ),
            )
        )
        threads.append(threading.Thread(target=sampler))
        t0 = time.time()
        for th in threads:
            th.start()
        time.sleep(args.minutes * 60)
        stop.set()
        for th in threads:
            th.join(timeout=30)
        t_end = time.time()
        time.sleep(3)  # the last jobs finish
        with factory() as session:
            jobs = list(session.scalars(select(Job).where(Job.id.in_(job_ids))))
    finally:
        stop.set()
        stack.stop()
        openfda.stop()
        engine.dispose()
        if not args.keep:
            _drop_db(db_url)
            shutil.rmtree(workdir, ignore_errors=True)

    slices = []
    n_slices = max(1, int((t_end - t0) // args.slice_seconds + 0.999))
    for k in range(n_slices):
        lo, hi = t0 + k * args.slice_seconds, t0 + (k + 1) * args.slice_seconds
        in_slice = [s for s in samples if lo <= s.t < hi]
        per_kind: dict[str, Any] = {}
        for kind in sorted({s.kind for s in in_slice}):
            ok = [s.latency for s in in_slice if s.kind == kind and 0 < s.status < 500]
            per_kind[kind] = {
                "n": sum(1 for s in in_slice if s.kind == kind),
                "errors": sum(1 for s in in_slice if s.kind == kind and not 0 < s.status < 500),
                "p50_ms": _pct(ok, 50),
                "p95_ms": _pct(ok, 95),
                "p99_ms": _pct(ok, 99),
            }
        finished = [
            j for j in jobs if j.finished_at is not None and lo <= _epoch(j.finished_at) < hi
        ]
        slices.append(
            {
                "slice": k,
                "from_s": round(lo - t0),
                "to_s": round(min(hi, t_end) - t0),
                "requests": per_kind,
                "jobs_finished": len(finished),
            }
        )
    memory: dict[str, Any] = {}
    for role, series in rss.items():
        values = [(t, v) for t, v in series if v is not None]
        first = [v for t, v in values if t < t0 + args.slice_seconds]
        last = [v for t, v in values if t >= t_end - args.slice_seconds]
        start_mb = statistics.mean(first) if first else None
        end_mb = statistics.mean(last) if last else None
        memory[role] = {
            "first_slice_mean_mb": None if start_mb is None else round(start_mb, 1),
            "last_slice_mean_mb": None if end_mb is None else round(end_mb, 1),
            "growth_mb": None
            if start_mb is None or end_mb is None
            else round(end_mb - start_mb, 1),
            "max_mb": max((v for _, v in values), default=None),
            "series": [[round(t - t0), v] for t, v in values],
        }
    states: dict[str, int] = {}
    for j in jobs:
        key = f"{j.type}:{j.state}"
        states[key] = states.get(key, 0) + 1
    return {
        "minutes": args.minutes,
        "slice_seconds": args.slice_seconds,
        "requests": len(samples),
        "errors": sum(1 for s in samples if not 0 < s.status < 500),
        "jobs": {"submitted": len(job_ids), "by_type_state": states},
        "refresh_product": refresh_code,
        "slices": slices,
        "rss_mb": memory,
        "workdir": str(workdir) if args.keep else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load runs")
    parser.add_argument("--slice-seconds", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--read-pause", type=float, default=0.05, help="seconds between reads")
    parser.add_argument("--report-every", type=float, default=1.0)
    parser.add_argument("--refresh-every", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the work dir (process logs)"
    )
    args = parser.parse_args()
    result = run(args)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.out is not None:
        args.out.write_text(text_out)


if __name__ == "__main__":
    main()
