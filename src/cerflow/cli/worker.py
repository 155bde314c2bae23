"""`cerflow worker [--queues ...] [--concurrency N]` and `cerflow beat`.

A worker finishes its current task on SIGTERM (Celery warm shutdown); if it is killed
instead, late acks + reject-on-worker-lost hand the task back, and the job sweeper
re-sends anything the broker forgot. The report queue recycles its processes after
`report_worker_max_tasks_per_child` tasks (rendering is memory-hungry).

`--metrics-port` serves the worker's health and metrics (`cerflow.jobs.health_server`)
from a thread of the main process; the pool children write their samples to a
multiprocess directory that the port aggregates. Beat keeps its schedule file where
`--schedule` says (default under the data directory), not in whatever the working
directory happens to be.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cerflow.config import Settings, get_settings


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated: ingest, analysis, reports.")
    ] = "ingest,analysis,reports",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")
    ] = 2,
    loglevel: Annotated[
        str | None, typer.Option("--loglevel", help="Default: CERFLOW_LOG_LEVEL.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve /health/live, /health/ready and /metrics on this port; 0 = off "
            "(default: CERFLOW_WORKER_METRICS_PORT).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address of the metrics port.")
    ] = "0.0.0.0",
) -> None:
    """Run a Celery worker for the given queues (needs CERFLOW_REDIS_URL)."""
    from cerflow.jobs.routing import QUEUES, queue_name
    from cerflow.jobs.worker import app

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
        *_quiet(settings),
        "worker",
        f"--queues={','.join(queue_name(settings, q) for q in names)}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel or settings.log_level}",
        "--prefetch-multiplier=1",
    ]
    if "reports" in names:
        argv.append(f"--max-tasks-per-child={settings.report_worker_max_tasks_per_child}")
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        _serve_health(settings, metrics_host, port)
    app.worker_main(argv)


def _quiet(settings: Settings) -> list[str]:
    """With JSON logs, no start-up banner: every line on the streams is then one JSON object."""
    from cerflow.observability.logging import wants_json

    return ["--quiet"] if wants_json(settings) else []


def _serve_health(settings: Settings, host: str, port: int) -> None:
    from cerflow.jobs.health_server import serve_worker_health
    from cerflow.observability.metrics import enable_multiprocess

    try:
        serve_worker_health(settings, port, host, watch_consumer=True)
    except OSError as exc:
        typer.echo(
            f"error: cannot serve worker health on {host}:{port} ({exc.strerror or exc}); "
            "choose another --metrics-port, or 0 to serve none",
            err=True,
        )
        raise typer.Exit(2) from None
    # Before the pool forks: every child then writes its samples where /metrics reads.
    from cerflow.observability.metrics import prepare_multiprocess_dir

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        prepare_multiprocess_dir(directory)  # the previous run's samples
    else:  # ours: removed when the worker exits
        directory = tempfile.mkdtemp(prefix="cerflow-worker-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    enable_multiprocess(directory)


def default_schedule_path(settings: Settings) -> Path:
    return settings.data_dir / "beat" / "celerybeat-schedule"


def beat(
    loglevel: Annotated[
        str | None, typer.Option("--loglevel", help="Default: CERFLOW_LOG_LEVEL.")
    ] = None,
    schedule: Annotated[
        Path | None,
        typer.Option(
            "--schedule",
            "-s",
            help="Beat's schedule file (last run of each entry); default: "
            "<data dir>/beat/celerybeat-schedule. Its directory must be writable.",
        ),
    ] = None,
) -> None:
    """Run Celery beat: the job sweeper and the watched-product refreshes."""
    from cerflow.jobs.worker import app

    settings = get_settings()
    if not settings.effective_broker_url:
        typer.echo("error: set CERFLOW_REDIS_URL (or CERFLOW_BROKER_URL) to run beat", err=True)
        raise typer.Exit(2)
    path = schedule or default_schedule_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".cerflow-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        typer.echo(
            f"error: beat cannot write its schedule file in {path.parent} "
            f"({exc.strerror or exc}); pass --schedule PATH in a writable directory",
            err=True,
        )
        raise typer.Exit(2) from None
    app.conf.beat_max_loop_interval = 30  # a tick (and a liveness touch) twice a minute
    app.start(
        [
            *_quiet(settings),
            "beat",
            f"--loglevel={loglevel or settings.log_level}",
            f"--schedule={path}",
            "--scheduler=cerflow.jobs.liveness:TouchingScheduler",
        ]
    )


def beat_check(
    schedule: Annotated[
        Path | None,
        typer.Option("--schedule", "-s", help="The schedule file beat was started with."),
    ] = None,
    max_age: Annotated[
        int, typer.Option("--max-age", help="Seconds since beat's last tick that count as alive.")
    ] = 180,
) -> None:
    """Exit 0 when beat ticked recently, 1 otherwise (a liveness probe for beat)."""
    from cerflow.jobs.liveness import beat_file_age

    path = schedule or default_schedule_path(get_settings())
    age = beat_file_age(path)
    if age is None or age > max_age:
        typer.echo(
            f"beat has not ticked for {'ever' if age is None else f'{age:.0f} s'} "
            f"(limit {max_age} s; file {path.parent.name}/beat-alive)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"beat ticked {age:.0f} s ago")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("worker")(worker)
    app.command("beat")(beat)
    app.command("beat-check")(beat_check)
