"""The `cerflow` command: the Typer app and one module per command group.

Each module (`db`, `ingest`, `analysis`, `report`, `service`, `worker`) holds thin wrappers
that parse options, call the package doing the work and print; `_common` has the progress
bar, the error line and the summary tables they share. The entry point is
`cerflow.cli:app`; `python -m cerflow.cli` runs the same app.
"""

from __future__ import annotations

import typer

from cerflow.cli import analysis, backup, db, ingest, inputs, literature, report, service, worker

app = typer.Typer(
    name="cerflow",
    help="Clinical Evaluation Reports from public post-market safety data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals could hold secrets
)


@app.callback()
def _root() -> None:
    """Logs of every command go through the one redacting set-up (JSON in production)."""
    from cerflow.config import get_settings
    from cerflow.observability.logging import configure_logging

    configure_logging(get_settings(), process="cli")


for module in (db, ingest, analysis, report, service, worker, backup, inputs, literature):
    module.register(app)

__all__ = ["app"]
