"""The `cerflow` command. Each command group lives in `cerflow.commands.<name>`."""

from __future__ import annotations

import typer

from cerflow.commands import analysis, db, ingest, report, service, worker

app = typer.Typer(
    name="cerflow",
    help="Clinical Evaluation Reports from public post-market safety data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals could hold secrets
)

for module in (db, ingest, analysis, report, service, worker):
    module.register(app)


if __name__ == "__main__":
    app()
