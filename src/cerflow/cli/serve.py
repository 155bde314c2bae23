"""`cerflow serve`: the HTTP API under uvicorn.

Apart from `cerflow user` (cli/service.py) so that starting the API imports nothing here
but Typer and the settings: the app's own modules load inside uvicorn's call of the
factory (`cerflow.asgi:create_app`), where the collector skips its full passes while they
are built, and the user commands' table printing is not loaded at all.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import typer

from cerflow.config import get_settings


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 behind a proxy)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
    migrate_first: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Run `cerflow db upgrade` before serving."
    ),
) -> None:
    """Run the HTTP API (migrates the database first; safe with several replicas)."""
    import uvicorn

    settings = get_settings()
    trusted_proxies = ",".join(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    if migrate_first:
        from cerflow.db import make_engine
        from cerflow.store import migrate  # Alembic only when it runs: --no-migrate starts faster

        engine = make_engine(settings=settings)
        migrate.upgrade(engine)  # advisory-locked on PostgreSQL: replicas take turns
        engine.dispose()
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker must write its metrics where /metrics can aggregate them; the
        # directory is ours, so it goes when serve exits.
        made = tempfile.mkdtemp(prefix="cerflow-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        atexit.register(shutil.rmtree, made, ignore_errors=True)
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from cerflow.observability.metrics import prepare_multiprocess_dir

        # A directory given to us (a volume) may hold the previous run's samples.
        prepare_multiprocess_dir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    uvicorn.run(
        "cerflow.asgi:create_app",  # cerflow.app's factory, built without full collections
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # X-Forwarded-* only from CERFLOW_TRUSTED_PROXIES (uvicorn would trust loopback).
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
        access_log=False,  # our middleware logs each request (with redaction)
        log_config=None,
        # After SIGTERM: stop accepting, finish in-flight requests for this long.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # uvicorn kills a worker that misses its health ping (5 s by default); a worker
        # cannot answer while it imports the app, which on a busy 2-core machine with 4
        # workers starting at once took longer than that, so the workers were killed in
        # a loop and the API never came up. A hung worker is still replaced, a bit later.
        timeout_worker_healthcheck=60,
    )


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)
