"""`cerflow ingest ...`: fetch or read source data into the store."""

from __future__ import annotations

import typer

ingest_app = typer.Typer(help="Import public safety data into the store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
