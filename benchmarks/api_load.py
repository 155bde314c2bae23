"""Benchmark: the API under load on the real PostgreSQL and Redis, vs a bare FastAPI endpoint.

    uv run python benchmarks/api_load.py [--workers 2] [--duration 25] [--users 100,500,1000]
        [--generator asyncio|locust]

Creates a throwaway PostgreSQL database (migrated with Alembic, seeded with 600 device
reports, 400 of code DQA, and 50 finished CER reports owned by the benchmark user) and a
Redis key prefix, starts `uvicorn` with several workers on loopback for the production app
(production settings: JSON logs at WARNING, every middleware, JWT auth, Redis rate limiting
with limits raised so the load generator's single address is not throttled) and, in the same
run, a bare FastAPI app (one async endpoint returning a constant: the ceiling of this
machine). Then runs the load generator, each simulated user keeping one connection and
pausing 1 s between requests: by default `benchmarks/loadgen.py` (asyncio + uvloop, the
same closed-loop user model as locust at a fraction of its CPU, which on a 2-core machine
otherwise takes much of the core the server needs), or locust headless (FastHttpUser) with
`--generator locust`. Both servers are measured with the same generator in the same run:

- cached product reads: `GET /api/v1/products/DQA` (warm Redis cache),
- report listing: `GET /api/v1/reports` (the caller's 50 generated CERs: one PostgreSQL
  query per user and process at most every second, see `cerflow.reports.listing`),
- bare endpoint,

at each user count (statistics taken after all users have spawned), then a step search
for the highest request rate whose p95 < 100 ms. Prints one JSON object. Figures are noisy
on a shared machine: note the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "CERFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PRODUCT_PATH = "/api/v1/products/DQA"
LIST_PATH = "/api/v1/reports"
BARE_PATH = "/bare"
P95_GOAL_MS = 100.0

LOCUSTFILE = """
import os
from locust import FastHttpUser, task, constant, constant_throughput

PATH = os.environ["BENCH_PATH"]
TOKEN = os.environ.get("BENCH_TOKEN", "")
RATE = float(os.environ.get("BENCH_RATE_PER_USER", "0"))


class ApiUser(FastHttpUser):
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(1)
    connection_timeout = 30
    network_timeout = 30

    @task
    def get(self):
        headers = {"Authorization": "Bearer " + TOKEN} if TOKEN else {}
        self.client.get(PATH, headers=headers, name=PATH)
"""

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_database() -> tuple[str, str]:
    from cerflow.db import make_engine
    from cerflow.store import collation, migrate

    name = f"cerflow_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL)
    collation.create_database(admin, name)
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return name, url


def drop_database(name: str) -> None:
    from cerflow.db import make_engine
    from cerflow.store import collation

    admin = make_engine(PG_ADMIN_URL)
    collation.drop_database(admin, name)
    admin.dispose()


def seed(url: str, settings: Any) -> str:
    """600 device reports (400 DQA) over 24 months; 50 finished CERs; an admin token."""
    import datetime as dt
    import random

    from cerflow.auth import service as auth_service
    from cerflow.auth.models import Role
    from cerflow.db import make_engine, make_session_factory
    from cerflow.jobs.models import Job
    from cerflow.reports.models import CerReport
    from cerflow.store.models import Report, ReportEvent, ReportProduct, SourceSnapshot
    from cerflow.unit_of_work import unit_of_work

    rng = random.Random(7)
    terms = ["hypoxia", "alarm failure", "display issue", "burn", "false reading", "no display"]
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        snap = SourceSnapshot(source="bench", location="synthetic", sha256="0" * 64)
        s.add(snap)
        s.flush()
        for i in range(600):
            code = "DQA" if i < 400 else "ABC"
            r = Report(
                source="maude",
                source_key=f"b{i}",
                kind="device",
                received_date=dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(730)),
                received_precision="D",
                serious=rng.random() < 0.3,
                death=rng.random() < 0.02,
                event_type=rng.choice(["death", "injury", "malfunction"]),
                content_hash=f"{i:064d}",
                snapshot_id=snap.id,
            )
            r.products = [
                ReportProduct(role="device", product_key="OXI", product_code=code, brand_name="Oxi")
            ]
            r.events = [
                ReportEvent(term=t, term_type="device_problem")
                for t in rng.sample(terms, rng.randint(1, 3))
            ]
            s.add(r)
        user = auth_service.create_user(
            session=s, email="bench-admin@example.org", password="bench " * 4, role=Role.ADMIN
        )
        for i in range(50):
            job = Job(id=uuid.uuid4().hex, type="report", state="succeeded", owner_id=user.id)
            s.add(job)
            s.flush()
            s.add(
                CerReport(
                    id=uuid.uuid4().hex,
                    job_id=job.id,
                    owner_id=user.id,
                    product_kind="device",
                    product_ref="DQA",
                    title=f"CER DQA #{i}",
                    files={},
                )
            )
        token = auth_service.issue_tokens(session=s, settings=settings, user=user).access_token
    engine.dispose()
    return token


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become ready")


def run_locust(
    workdir: Path, base: str, path: str, token: str, users: int, duration: int, rate: float = 0
) -> dict[str, Any]:
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = workdir / f"run_{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_TOKEN": token,
        "BENCH_RATE_PER_USER": str(rate),
    }
    spawn = max(10, users // 4)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        base,
        "-u",
        str(users),
        "-r",
        str(spawn),
        "-t",
        f"{duration}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--reset-stats",
        "--loglevel",
        "ERROR",
        "--stop-timeout",
        "5",
    ]
    proc = subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=duration + 120)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    if int(row["Request Count"]) == 0:
        raise SystemExit(f"locust made no request against {base}{path}:\n{proc.stderr.decode()}")
    return {
        "users": users,
        "requests": int(row["Request Count"]),
        "errors": int(row["Failure Count"]),
        # Locust's figure; the saturation steps keep it honest by using about one user per
        # requested request/s (with 200 users at 25 rps it reported 900+ rps).
        "throughput_rps": round(float(row["Requests/s"]), 1),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
    }


def run_asyncio(
    base: str, path: str, token: str, users: int, duration: int, rate: float = 0
) -> dict[str, Any]:
    """The same closed-loop users as the locust file, from `benchmarks/loadgen.py`."""
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "loadgen.py"),
        "--host",
        base,
        "--path",
        path,
        "--token",
        token,
        "--users",
        str(users),
        "--duration",
        str(duration),
        "--rate-per-user",
        str(rate),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, timeout=duration + 120)
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed against {base}{path}:\n{proc.stderr.decode()}")
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    if result["requests"] == 0:
        raise SystemExit(f"load generator made no request against {base}{path}")
    return result


GENERATOR = "asyncio"


SERVER_PIDS: dict[str, int] = {}  # base URL -> uvicorn parent pid


def server_cpu_seconds(parent_pid: int) -> float:
    """User + system CPU seconds of a uvicorn parent and its worker children so far (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        if pid == parent_pid or int(fields[1]) == parent_pid:  # fields[1]: ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def run_load(
    workdir: Path, base: str, path: str, token: str, users: int, duration: int, rate: float = 0
) -> dict[str, Any]:
    """One load level; with the asyncio generator also the server's CPU per answered request
    (a figure the machine's other load barely moves, unlike latency and throughput)."""
    pid = SERVER_PIDS.get(base)
    cpu_before = server_cpu_seconds(pid) if pid else 0.0
    if GENERATOR == "locust":
        return run_locust(workdir, base, path, token, users, duration, rate)
    result = run_asyncio(base, path, token, users, duration, rate)
    completed = result.get("completed_all_phases", 0)
    if pid and completed:
        # Queued requests still drain after the generator stops: a short settle.
        time.sleep(1.0)
        cpu = server_cpu_seconds(pid) - cpu_before
        result["server_cpu_us_per_request"] = round(cpu / completed * 1e6, 1)
    return result


def worker_rss_mb(parent_pid: int) -> list[float]:
    """Resident memory (MiB) of each uvicorn worker process under `parent_pid` (Linux /proc).

    With `--workers N` uvicorn's parent only supervises; the workers are its children."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue  # the process ended while we looked
        if fields.get("PPid", "").strip() == str(parent_pid) and "VmRSS" in fields:
            found.append(round(int(fields["VmRSS"].split()[0]) / 1024, 1))
    return sorted(found)


def saturation(
    workdir: Path, base: str, path: str, token: str, duration: int, rates: list[int]
) -> dict[str, Any]:
    """Raise the offered rate from a low one until p95 >= 100 ms or the server falls behind."""
    best: dict[str, Any] | None = None
    steps = []
    for rate in rates:
        users = max(10, rate)  # about one request per user per second, as in the levels
        r = run_load(workdir, base, path, token, users, duration, rate=rate / users)
        r["offered_rps"] = rate
        steps.append(r)
        time.sleep(3)
        keeps_up = r["throughput_rps"] >= 0.85 * rate
        if r["p95_ms"] < P95_GOAL_MS and r["errors"] == 0 and keeps_up:
            best = r
        else:
            break
    return {
        "max_rps_with_p95_under_100ms": best["throughput_rps"] if best else 0.0,
        # False when every step passed: the ceiling is above the top step, not measured.
        "saturated": bool(steps) and best is not steps[-1],
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="leave a core for locust")
    parser.add_argument("--duration", type=int, default=25, help="seconds per load level")
    parser.add_argument("--users", default="100,500,1000")
    parser.add_argument(
        "--rates",
        default="25,50,100,150,200,300,400,600,800,1000,1300,1600,2000,2500,3000,4000,5000,6000",
        help="offered rates of the step search, up to where the bare endpoint saturates",
    )
    parser.add_argument("--scenarios", default="cached_product_read,report_listing,bare_fastapi")
    parser.add_argument(
        "--generator",
        choices=("asyncio", "locust"),
        default="asyncio",
        help="asyncio: benchmarks/loadgen.py (lean, same user model); locust: FastHttpUser",
    )
    args = parser.parse_args()
    global GENERATOR
    GENERATOR = args.generator
    user_levels = [int(u) for u in args.users.split(",")]
    rates = [int(r) for r in args.rates.split(",")]

    from pydantic import SecretStr

    from cerflow.config import Settings

    secret = secrets.token_urlsafe(48)
    db_name, db_url = make_database()
    prefix = f"cerflow-bench:{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=db_url, secret_key=SecretStr(secret), access_token_ttl_seconds=7200
    )
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="cerflow-bench-"))
    try:
        token = seed(db_url, settings)
        api_port, bare_port = free_port(), free_port()
        metrics_dir = workdir / "metrics"
        metrics_dir.mkdir()
        env = {
            **os.environ,
            "CERFLOW_ENVIRONMENT": "production",
            "CERFLOW_DATABASE_URL": db_url,
            "CERFLOW_REDIS_URL": REDIS_URL,
            "CERFLOW_REDIS_KEY_PREFIX": prefix,
            "CERFLOW_SECRET_KEY": secret,
            "CERFLOW_LOG_LEVEL": "WARNING",
            "CERFLOW_DB_POOL_SIZE": "5",
            "CERFLOW_DB_MAX_OVERFLOW": "5",
            "CERFLOW_RATE_LIMIT_PER_USER": "100000000",
            "CERFLOW_RATE_LIMIT_PER_IP": "100000000",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        (workdir / "bare_app.py").write_text(BARE_APP)
        common = [
            "--host",
            "127.0.0.1",
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
        ]
        log = open(workdir / "server.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "cerflow.app:create_app",
                    "--factory",
                    "--port",
                    str(api_port),
                    *common,
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--app-dir",
                    str(workdir),
                    "--port",
                    str(bare_port),
                    *common,
                ],
                stdout=log,
                stderr=log,
            )
        )
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        SERVER_PIDS.update({api: procs[0].pid, bare: procs[1].pid})
        wait_ready(api + "/health/ready", procs[0])
        wait_ready(bare + BARE_PATH, procs[1])
        # The first detail computes (a cache miss): allow for a loaded machine.
        warm = httpx.get(
            api + PRODUCT_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        assert warm.status_code == 200, warm.text
        load_before = os.getloadavg()
        rss_idle = worker_rss_mb(procs[0].pid)

        wanted = set(args.scenarios.split(","))
        results: dict[str, Any] = {}
        for name, base, path, saturate in (
            ("cached_product_read", api, PRODUCT_PATH, True),
            ("bare_fastapi", bare, BARE_PATH, True),
            ("report_listing", api, LIST_PATH, False),  # last: it overloads the server
        ):
            if name not in wanted:
                continue
            levels = []
            for u in user_levels:
                levels.append(run_load(workdir, base, path, token, u, args.duration))
                time.sleep(5)  # let queued requests drain before the next level
            results[name] = {"path": path, "levels": levels}
            print(json.dumps({name: levels}), file=sys.stderr, flush=True)  # progress
            if saturate:
                results[name]["saturation"] = saturation(
                    workdir, base, path, token, max(10, args.duration // 2), rates
                )
        rss_after = worker_rss_mb(procs[0].pid)
        ceilings = {
            name: results[name]["saturation"]["max_rps_with_p95_under_100ms"]
            for name in ("cached_product_read", "bare_fastapi")
            if "saturation" in results.get(name, {})
        }
        if len(ceilings) == 2:
            ceilings["bare_saturated"] = results["bare_fastapi"]["saturation"]["saturated"]
            ceilings["cached_over_bare"] = round(
                ceilings["cached_product_read"] / max(ceilings["bare_fastapi"], 1e-9), 3
            )
            ceilings["goal_cached_at_least_90pct_of_bare"] = ceilings["cached_over_bare"] >= 0.9
        product_levels = results.get("cached_product_read", {}).get("levels", [])
        goal = next((lv for lv in product_levels if lv["users"] == 1000), None)
        try:  # the server may still be draining the overload of the last scenario
            cache_hits = httpx.get(api + "/metrics", timeout=120).text
        except httpx.HTTPError as exc:
            cache_hits = f"# metrics unavailable: {type(exc).__name__}"
        hit_lines = [
            ln
            for ln in cache_hits.splitlines()
            if ln.startswith("cerflow_cache_requests_total{") and "product_detail" in ln
        ]
        print(
            json.dumps(
                {
                    "benchmark": "api_load",
                    "generator": args.generator,
                    "workers": args.workers,
                    "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "user_pause_s": 1.0,
                    "ceilings_rps": ceilings,
                    "api_worker_rss_mb": {
                        "idle_after_warm_up": rss_idle,
                        "after_load": rss_after,
                        "goal_under_200": bool(rss_after) and max(rss_after) < 200,
                    },
                    "results": results,
                    "goal_p95_under_100ms_at_1000_users": (
                        bool(goal and goal["p95_ms"] < P95_GOAL_MS and goal["errors"] == 0)
                    ),
                    "cache_counters": hit_lines,
                },
                indent=2,
            )
        )
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        try:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except Exception as exc:
            print(f"could not clean Redis prefix {prefix}: {exc}", file=sys.stderr)
        drop_database(db_name)


if __name__ == "__main__":
    main()
