"""`cerflow ingest ...`: fetch or read source data into the store."""

from __future__ import annotations

import typer

from cerflow.commands import (
    ingest_eudamed,
    ingest_faers,
    ingest_maude,
    ingest_openfda,
    ingest_sample,
)

ingest_app = typer.Typer(help="Import public safety data into the store.", no_args_is_help=True)

for _module in (ingest_openfda, ingest_faers, ingest_maude, ingest_eudamed, ingest_sample):
    _module.register(ingest_app)


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
