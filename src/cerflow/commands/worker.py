"""`cerflow worker [--queues ...] [--concurrency N]` and `cerflow beat`.

A worker finishes its current task on SIGTERM (Celery warm shutdown); if it is killed
instead, late acks + reject-on-worker-lost hand the task back, and the job sweeper
re-sends anything the broker forgot. The report queue recycles its processes after
`report_worker_max_tasks_per_child` tasks (rendering is memory-hungry).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cerflow.config import get_settings


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated: ingest, analysis, reports.")
    ] = "ingest,analysis,reports",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")
    ] = 2,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "INFO",
) -> None:
    """Run a Celery worker for the given queues (needs CERFLOW_REDIS_URL)."""
    from cerflow.jobs.celery_app import QUEUES, app, queue_name

    settings = get_settings()
    if not settings.effective_broker_url:
        typer.echo("error: set CERFLOW_REDIS_URL (or CERFLOW_BROKER_URL) to run a worker", err=True)
        raise typer.Exit(2)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown:
        typer.echo(f"error: unknown queue(s) {unknown}; choose from {', '.join(QUEUES)}", err=True)
        raise typer.Exit(2)
    argv = [
        "worker",
        f"--queues={','.join(queue_name(settings, q) for q in names)}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--prefetch-multiplier=1",
    ]
    if "reports" in names:
        argv.append(f"--max-tasks-per-child={settings.report_worker_max_tasks_per_child}")
    app.worker_main(argv)


def beat(loglevel: Annotated[str, typer.Option("--loglevel")] = "INFO") -> None:
    """Run Celery beat: the job sweeper and the watched-product refreshes."""
    from cerflow.jobs.celery_app import app

    if not get_settings().effective_broker_url:
        typer.echo("error: set CERFLOW_REDIS_URL (or CERFLOW_BROKER_URL) to run beat", err=True)
        raise typer.Exit(2)
    app.start(["beat", f"--loglevel={loglevel}"])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("worker")(worker)
    app.command("beat")(beat)
