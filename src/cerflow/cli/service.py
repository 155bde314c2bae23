"""`cerflow serve` and `cerflow user ...`."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role, User
from cerflow.config import get_settings
from cerflow.db import make_engine, make_session_factory
from cerflow.unit_of_work import unit_of_work

console = Console()
user_app = typer.Typer(help="Manage API users.", no_args_is_help=True)


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
        "cerflow.app:create_app",
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


@user_app.command("create")
def create_user(
    email: str = typer.Option(..., help="Sign-in e-mail (case-insensitive)."),
    role: Role = typer.Option(Role.VIEWER, case_sensitive=False),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="CERFLOW_NEW_USER_PASSWORD",
        help="Prompted when omitted (never put it on the command line in shared shells).",
    ),
) -> None:
    """Create a user; the first admin is created this way."""
    if len(password) < 12:
        console.print("[red]password must be at least 12 characters[/]")
        raise typer.Exit(2)
    engine = make_engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            user = auth_service.create_user(
                session=session, email=email, password=password, role=role
            )
            console.print(f"created user [bold]{user.email}[/] (id {user.id}, role {user.role})")
    except auth_service.Conflict as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@user_app.command("list")
def list_users() -> None:
    """Show every user with role and status."""
    engine = make_engine()
    with make_session_factory(engine)() as session:
        users = session.scalars(select(User).order_by(User.id)).all()
    engine.dispose()
    table = Table("id", "email", "role", "active", "created")
    for u in users:
        table.add_row(str(u.id), u.email, u.role, "yes" if u.is_active else "no", str(u.created_at))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `serve` and the `user` group to the root app."""
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
