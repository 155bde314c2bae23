"""`cerflow db ...`: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from cerflow.db import make_engine
from cerflow.store import collation, migrate

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
console = Console()
advice_console = Console(stderr=True)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Migrate the database to REVISION (idempotent; serialized across replicas).

    On PostgreSQL, also says (on stderr, without failing) when the database does not
    collate text bytewise ('C'), and how to recreate it."""
    engine = make_engine()
    migrate.upgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current(engine)}[/]")
    with engine.connect() as conn:
        advice = collation.collation_advice(conn)
    if advice:
        advice_console.print(f"[yellow]advice:[/] {advice}", highlight=False, soft_wrap=True)
    engine.dispose()


@db_app.command("downgrade")
def downgrade(revision: str = typer.Argument(...)) -> None:
    """Migrate the database down to REVISION (e.g. `base`)."""
    engine = make_engine()
    migrate.downgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current(engine)}[/]")
    engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
