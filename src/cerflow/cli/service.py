"""`cerflow user ...` (`cerflow serve` is in cli/serve.py)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role, User
from cerflow.db import make_engine, make_session_factory
from cerflow.unit_of_work import unit_of_work

console = Console()
user_app = typer.Typer(help="Manage API users.", no_args_is_help=True)


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
    """Add the `user` group to the root app."""
    app.add_typer(user_app, name="user")
