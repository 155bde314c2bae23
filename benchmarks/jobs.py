"""50 concurrent report jobs on 2 Celery workers: completed, lost, duplicated, p50/p95.

    uv run python benchmarks/jobs.py [--jobs 50] [--workers 2]

Uses a fresh PostgreSQL database (seeded with the system tests' small device store), the
local Redis with unique queue names, and real `celery worker` processes. "Lost" = a job
not succeeded within the bound; "duplicated" = a job with more than one report row or
more than one report directory. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.system.conftest import Workers, job_settings
from tests.system.store_seed import SIGNAL_CODE, seed

from cerflow.db import make_engine, make_session_factory
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.models import Job
from cerflow.jobs.submitters import CelerySubmitter
from cerflow.reports.models import CerReport
from cerflow.store import collation, migrate
from cerflow.unit_of_work import unit_of_work

PG_ADMIN = os.environ.get(
    "CERFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bound", type=float, default=900.0)
    args = ap.parse_args()

    admin = make_engine(PG_ADMIN)
    name = f"cerflow_bench_{uuid.uuid4().hex[:8]}"
    collation.create_database(admin, name)
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    tmp = Path(tempfile.mkdtemp(prefix="cerflow-bench-"))
    workers: Workers | None = None
    try:
        migrate.upgrade(engine)
        seed(engine, prefix="bench")
        settings = job_settings(url, tmp / "data", uuid.uuid4().hex[:8])
        factory = make_session_factory(engine)
        submitter = CelerySubmitter(settings, app=make_celery(settings))
        workers = Workers(settings, tmp)
        for i in range(args.workers):
            workers.start(f"bench{i}", queues="reports")
        params = {"product_kind": "device", "product_ref": SIGNAL_CODE, "formats": ["json"]}

        def submit(i: int) -> str:
            with unit_of_work(factory) as session:
                return submitter.submit(
                    session=session,
                    kind="report",
                    payload=params,
                    requested_by=None,
                    idempotency_key=f"bench-{name}-{i}",
                ).id

        t0 = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(submit, range(args.jobs)))
        deadline = time.monotonic() + args.bound
        while time.monotonic() < deadline:
            with factory() as session:
                active = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.id.in_(ids), Job.state.in_(("queued", "running", "retrying")))
                )
            if not active:
                break
            time.sleep(0.5)
        wall = time.monotonic() - t0
        with factory() as session:
            jobs = list(session.scalars(select(Job).where(Job.id.in_(ids))))
            reports = dict(
                session.execute(
                    select(CerReport.job_id, func.count())
                    .where(CerReport.job_id.in_(ids))
                    .group_by(CerReport.job_id)
                ).all()
            )
        done = [j for j in jobs if j.state == "succeeded"]
        secs = sorted((j.finished_at - j.created_at).total_seconds() for j in done if j.finished_at)
        dirs = (
            [p.name for p in (settings.data_dir / "reports").iterdir()]
            if (settings.data_dir / "reports").exists()
            else []
        )
        result = {
            "jobs_submitted": args.jobs,
            "distinct_jobs": len(set(ids)),
            "workers": args.workers,
            "worker_concurrency": 1,
            "completed": len(done),
            "failed": sum(j.state == "failed" for j in jobs),
            "lost": args.jobs - len(done) - sum(j.state == "failed" for j in jobs),
            "duplicated": sum(1 for n in reports.values() if n > 1) + (len(dirs) - len(set(dirs))),
            "reports_rows": sum(reports.values()),
            "executions_over_1": sum(1 for j in jobs if j.attempts > 1),
            "p50_seconds": round(statistics.median(secs), 2) if secs else None,
            "p95_seconds": round(secs[max(0, int(len(secs) * 0.95) - 1)], 2) if secs else None,
            "wall_seconds": round(wall, 1),
            "throughput_jobs_per_s": round(len(done) / wall, 2) if wall else None,
            "loadavg": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
    finally:
        if workers is not None:
            workers.stop_all()
        engine.dispose()
        collation.drop_database(admin, name)
        admin.dispose()


if __name__ == "__main__":
    main()
