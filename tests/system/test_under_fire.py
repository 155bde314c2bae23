"""Proof under fire: the whole stack as processes, 200 report jobs, faults injected.

Two API processes, two Celery workers, beat, a Redis of the test's own and a PostgreSQL
database of its own. While 200 report jobs (json only, on the small seeded store) are
submitted through the HTTP API and reads run from a thread pool, a worker is SIGKILLed
(its whole process group) every few seconds and restarted, Redis is restarted once (it
has no persistence, so every queued message is lost) and every application connection to
the database is terminated once with `pg_terminate_backend`.

Each fault's window (its start, its end plus a grace) is recorded. Afterwards: every job
succeeded, exactly once (one CerReport row, one directory, one job row per submission),
and no 5xx or transport error happened outside a fault window. A JSON summary (counts,
read p95 before/during/after, recovery time after each fault) goes to stdout (`-s`) and to
`under_fire_summary.json` in the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.jobs.models import Job
from cerflow.reports.models import CerReport
from cerflow.unit_of_work import unit_of_work
from tests.conftest import PG_ADMIN_URL, PgDatabases
from tests.system.stack import SECRET, Stack, read_mix
from tests.system.store_seed import SIGNAL_CODE, seed

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

JOBS = 200
SUBMITTERS = 16
READERS = 4
GRACE = 5.0  # seconds after a fault ends during which errors still count as its own
WORKER_KILL_EVERY = 5.0
REDIS_RESTART_AT = 4.0
PG_TERMINATE_AT = 12.0
WORKER_WARM_SECONDS = 3.0  # a worker is killed no sooner than this after it is ready
KILLS_STOP_AFTER = 100.0
DONE_BOUND = 200.0  # only stops a hung test; normally all jobs finish well before
OBSERVER = "under-fire-observer"


@dataclass
class Window:
    kind: str
    start: float
    end: float
    detail: str = ""

    def covers(self, t: float) -> bool:
        return self.start <= t <= self.end + GRACE


@dataclass
class Sample:
    t: float  # wall-clock time the request started
    kind: str
    status: int  # 0 = transport error (refused, reset, timeout)
    latency: float


@dataclass
class Record:
    samples: list[Sample] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def window(self, window: Window) -> None:
        with self.lock:
            self.windows.append(window)

    def in_window(self, t: float) -> bool:
        return any(w.covers(t) for w in self.windows)


def _request(
    client: httpx.Client, rec: Record, kind: str, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    t = time.time()
    start = time.perf_counter()
    try:
        resp = client.request(method, url, **kw)
    except httpx.HTTPError:
        rec.add(Sample(t, kind, 0, time.perf_counter() - start))
        return None
    rec.add(Sample(t, kind, resp.status_code, time.perf_counter() - start))
    return resp


def _p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return round(values[0] * 1000, 1) if values else None
    return round(statistics.quantiles(values, n=20)[18] * 1000, 1)


@pytest.fixture
def fire_db(pg_databases: PgDatabases) -> Iterator[tuple[str, Engine]]:
    """A database of the test's own; the observer's connections are exempt from the fault."""
    url = pg_databases.create("fire")
    driver = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(driver, poolclass=NullPool, connect_args={"application_name": OBSERVER})
    seed(engine, prefix="fire")
    yield url, engine
    engine.dispose()


def _token(factory: sessionmaker[Session], stack: Stack) -> str:
    settings = Settings(
        environment=Environment.PRODUCTION,
        database_url=stack.database_url,
        secret_key=SecretStr(SECRET),
    )
    with unit_of_work(factory) as session:
        user = auth_service.create_user(
            session=session,
            email=f"fire-{uuid.uuid4().hex[:6]}@example.org",
            password="pw-" + "f" * 20,
            role=Role.ANALYST,
        )
        return auth_service.issue_tokens(session=session, settings=settings, user=user).access_token


def _terminate_app_connections(dbname: str) -> int:
    admin = create_engine(
        "postgresql+psycopg://" + PG_ADMIN_URL.removeprefix("postgresql://"), poolclass=NullPool
    )
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() "
                    "AND application_name <> :observer"
                ),
                {"db": dbname, "observer": OBSERVER},
            ).scalar_one()
            conn.commit()
    finally:
        admin.dispose()
    return int(killed)


def _queue_lengths(stack: Stack) -> dict[str, int]:
    """Messages still in the broker once every job is done (re-sends nobody needed)."""
    client = redis.Redis(port=stack.redis.port)
    try:
        return {q: int(client.llen(q)) for q in ("ingest", "analysis", "reports")}
    except redis.RedisError:
        return {}
    finally:
        client.close()


def test_two_hundred_report_jobs_under_fire(fire_db: tuple[str, Engine], tmp_path: Path) -> None:
    db_url, engine = fire_db
    dbname = db_url.rsplit("/", 1)[1]
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    stack = Stack(tmp_path / "stack", db_url)
    rec = Record()
    stop_reads = threading.Event()
    job_ids: list[str] = []
    ids_lock = threading.Lock()
    faults: dict[str, Any] = {"worker_kills": 0, "terminated_connections": 0}
    try:
        boot = time.monotonic()
        stack.start()
        boot_s = time.monotonic() - boot
        headers = {"Authorization": f"Bearer {_token(factory, stack)}"}
        urls = stack.base_urls

        def reader(n: int) -> None:
            read_mix(
                n,
                urls=urls,
                headers=headers,
                product=SIGNAL_CODE,
                job_ids=job_ids,
                lock=ids_lock,
                stop=stop_reads,
                request=lambda c, kind, method, path: _request(c, rec, kind, method, path),
                pause=0.05,
            )

        def submit(n: int) -> None:
            """A careful client: retries with the same Idempotency-Key until it has a job."""
            clients = [httpx.Client(base_url=u, headers=headers, timeout=15) for u in urls]
            body = {"product_ref": SIGNAL_CODE, "formats": ["json"]}
            for k in range(n, JOBS, SUBMITTERS):
                key = {"Idempotency-Key": f"fire-{k}"}
                deadline = time.monotonic() + 90
                attempt = 0
                while True:
                    client = clients[(k + attempt) % len(clients)]
                    attempt += 1
                    resp = _request(client, rec, "submit", "POST", "/api/v1/reports",
                                    json=body, headers=key)  # fmt: skip
                    if resp is not None and resp.status_code == 202:
                        with ids_lock:
                            job_ids.append(resp.json()["job_id"])
                        break
                    assert resp is None or resp.status_code >= 500, resp.text
                    assert time.monotonic() < deadline, f"job {k} never accepted"
                    time.sleep(0.5)
                time.sleep(0.3)
            for c in clients:
                c.close()

        def succeeded() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        select(func.count()).select_from(Job).where(Job.state == "succeeded")
                    ).scalar_one()
                )

        def chaos(t0: float, all_done: threading.Event) -> None:
            schedule = [("redis", REDIS_RESTART_AT), ("pg", PG_TERMINATE_AT)]
            schedule += [
                ("worker", t)
                for t in [2.5 + WORKER_KILL_EVERY * i for i in range(100)]
                if t < KILLS_STOP_AFTER
            ]
            schedule.sort(key=lambda x: x[1])
            victim = 0
            for kind, at in schedule:
                wait = t0 + at - time.monotonic()
                if kind == "worker" and all_done.wait(max(0.0, wait)):
                    continue  # nothing left to fire on
                if kind == "worker":
                    # Kill a worker that is working: on a loaded 2-core machine a worker
                    # takes up to ~12 s to boot and its first (cold) job ~2 s, and killing
                    # it before that only measures boot time (a crash loop, in which no
                    # job can finish). Bounded, so a worker that never gets ready is
                    # killed anyway.
                    ready_by = time.monotonic() + 20
                    while not stack.worker_ready(victim) and time.monotonic() < ready_by:
                        if all_done.wait(0.2):
                            break
                    if all_done.wait(WORKER_WARM_SECONDS):  # past its cold first job
                        continue
                if kind != "worker" and wait > 0:
                    time.sleep(wait)
                start = time.time()
                if kind == "worker":
                    stack.kill_worker(victim)
                    time.sleep(1.0)
                    stack.restart_worker(victim)
                    faults["worker_kills"] += 1
                    detail = f"worker{victim}"
                    victim = 1 - victim
                elif kind == "redis":
                    stack.redis.restart()
                    detail = "redis restarted (queues emptied)"
                else:
                    n = _terminate_app_connections(dbname)
                    faults["terminated_connections"] = n
                    detail = f"{n} connections terminated"
                rec.window(Window(kind, start, time.time(), detail))

        with ThreadPoolExecutor(READERS + SUBMITTERS + 1) as pool:
            reads = [pool.submit(reader, n) for n in range(READERS)]
            time.sleep(5)  # the "before" baseline
            t0 = time.monotonic()
            load_start = time.time()
            all_done = threading.Event()
            chaos_f = pool.submit(chaos, t0, all_done)
            subs = [pool.submit(submit, n) for n in range(SUBMITTERS)]
            for f in subs:
                f.result()
            while succeeded() < JOBS and time.monotonic() - t0 < DONE_BOUND:
                time.sleep(1)
            all_done.set()
            jobs_done_s = time.monotonic() - t0
            queued_left = _queue_lengths(stack)
            chaos_f.result()
            time.sleep(6)  # the "after" period
            stop_reads.set()
            for f in reads:
                f.result()

        # The test never stops an API process; one that exited was stopped from outside
        # (e.g. a broad `pkill` by another user of the machine), which voids the run.
        api_exits = {f"api{i}": p.poll() for i, p in enumerate(stack.apis)}

        # --- what the store and the file system say ---
        with factory() as session:
            jobs = list(session.scalars(select(Job)))
            reports = list(session.scalars(select(CerReport)))
        submitted = set(job_ids)
        by_state: dict[str, int] = {}
        for j in jobs:
            by_state[j.state] = by_state.get(j.state, 0) + 1
        per_job: dict[str, int] = {}
        for r in reports:
            per_job[r.job_id or ""] = per_job.get(r.job_id or "", 0) + 1
        report_dir = stack.data_dir / "reports"
        dirs = sorted(p.name for p in report_dir.iterdir()) if report_dir.exists() else []
        finished = sorted(
            j.finished_at.replace(tzinfo=j.finished_at.tzinfo or dt.UTC).timestamp()
            for j in jobs
            if j.state == "succeeded" and j.finished_at is not None
        )

        # --- the API's answers against the fault windows ---
        windows = sorted(rec.windows, key=lambda w: w.start)
        first_fault = windows[0].start if windows else load_start
        last_end = max((w.end for w in windows), default=load_start) + GRACE
        bad = [s for s in rec.samples if s.status >= 500 or s.status == 0]
        bad_outside = [s for s in bad if not rec.in_window(s.t)]
        reads_ok = [s for s in rec.samples if s.kind != "submit" and s.status == 200]
        recovery = []
        for w in windows:
            read_after = next((s.t for s in sorted(reads_ok, key=lambda s: s.t) if s.t >= w.end),
                              None)  # fmt: skip
            job_after = next((t for t in finished if t >= w.end), None)
            recovery.append(
                {
                    "fault": w.kind,
                    "detail": w.detail,
                    "at_s": round(w.start - load_start, 1),
                    "lasted_s": round(w.end - w.start, 2),
                    "first_ok_read_after_s": None
                    if read_after is None
                    else round(read_after - w.end, 2),
                    "first_job_done_after_s": None
                    if job_after is None
                    else round(job_after - w.end, 2),
                }
            )
        latencies = {
            "before": [s.latency for s in reads_ok if s.t < first_fault],
            "during": [s.latency for s in reads_ok if rec.in_window(s.t)],
            "after": [s.latency for s in reads_ok if s.t > last_end],
        }
        duplicated = sum(n - 1 for n in per_job.values() if n > 1)
        lost = sorted(submitted - {j.id for j in jobs if j.state == "succeeded"})
        summary = {
            "jobs": {
                "submitted": len(submitted),
                "job_rows": len(jobs),
                "completed": by_state.get("succeeded", 0),
                "by_state": by_state,
                "lost": len(lost),
                "duplicated_reports": duplicated,
                "report_rows": len(reports),
                "report_dirs": len(dirs),
                "attempts_max": max((j.attempts for j in jobs), default=0),
                "sends_total": sum(j.sends or 0 for j in jobs),
                "all_done_after_s": round(jobs_done_s, 1),
                "broker_messages_left_when_done": queued_left,
            },
            "faults": {**faults, "windows": len(windows)},
            "responses": {
                "total": len(rec.samples),
                "5xx_or_transport_inside_windows": len(bad) - len(bad_outside),
                "5xx_or_transport_outside_windows": len(bad_outside),
                "outside_detail": [
                    {"t": round(s.t - load_start, 2), "kind": s.kind, "status": s.status}
                    for s in bad_outside[:20]
                ],
            },
            "read_p95_ms": {k: _p95(v) for k, v in latencies.items()},
            "read_counts": {k: len(v) for k, v in latencies.items()},
            "recovery": recovery,
            "stack_boot_s": round(boot_s, 1),
            "api_exit_codes": api_exits,
        }
        text_out = json.dumps(summary, indent=2)
        print("\nUNDER FIRE SUMMARY\n" + text_out)
        (tmp_path / "under_fire_summary.json").write_text(text_out)

        assert all(code is None for code in api_exits.values()), (
            f"API processes exited although the test never stops them: {api_exits}; "
            f"something outside the test signalled them (see {stack.logs}/api*.log)"
        )
        assert len(submitted) == JOBS and len(jobs) == JOBS, summary["jobs"]
        assert lost == [], f"jobs not succeeded: {lost[:10]} ({by_state})"
        assert duplicated == 0 and set(per_job) == submitted, summary["jobs"]
        assert dirs == sorted(submitted), "one report directory per job, nothing else"
        assert all((report_dir / i / "facts.json").exists() for i in submitted)
        assert bad_outside == [], summary["responses"]
        # Re-sends go only to jobs that were really lost, not to every job of a backlog.
        assert sum(queued_left.values()) < JOBS // 4, queued_left
        assert faults["worker_kills"] >= 3 and faults["terminated_connections"] > 0
        assert all(r["first_ok_read_after_s"] is not None for r in recovery), recovery
    finally:
        stop_reads.set()
        stack.stop()
