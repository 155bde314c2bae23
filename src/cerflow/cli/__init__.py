"""The `cerflow` command: the Typer app and one module per command group.

Each module (`db`, `ingest`, `analysis`, `report`, `serve`, `service`, `worker`, ...) holds
thin wrappers that parse options, call the package doing the work and print; `_common` has
the progress bar, the error line and the summary tables they share. The entry point is
`cerflow.cli:app`; `python -m cerflow.cli` runs the same app.

The root group is lazy: importing this package loads none of the command modules, so
`cerflow --help` does not pay for SQLAlchemy, Polars, Alembic and the report stack (10-12 s
on a loaded two-core machine when every module was imported up front). A command's module
is imported when that command runs or shows its own help; the root help lists the commands
from `COMMANDS` below, whose texts a test keeps equal to the commands' own.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from typing import Any

import typer
from typer._click.exceptions import UsageError  # Typer vendors Click; no public alias
from typer.core import TyperCommand, TyperGroup

# name -> (module under cerflow.cli that registers it, the one-line help shown by `--help`),
# in the order `cerflow --help` lists them (Typer lists commands before groups).
COMMANDS: dict[str, tuple[str, str]] = {
    "signals": (
        "analysis",
        "Disproportionality signals of one product against the whole store as background.",
    ),
    "trends": (
        "analysis",
        "Monthly report counts, Mann-Kendall trend, forecast and anomalies for one product.",
    ),
    "demo": (
        "report",
        "Build a store from the bundled SYNTHETIC sample and write one drug and one device CER.",
    ),
    "serve": (
        "serve",
        "Run the HTTP API (migrates the database first; safe with several replicas).",
    ),
    "worker": ("worker", "Run a Celery worker for the given queues (needs CERFLOW_REDIS_URL)."),
    "beat": ("worker", "Run Celery beat: the job sweeper and the watched-product refreshes."),
    "beat-check": (
        "worker",
        "Exit 0 when beat ticked recently, 1 otherwise (a liveness probe for beat).",
    ),
    "restore": ("backup", "Restore a backup into the configured database and data directory."),
    "db": ("db", "Database schema management."),
    "ingest": ("ingest", "Import public safety data into the store."),
    "report": ("report", "Write a report; review, approve and compare its versions."),
    "audit": ("report", "The audit trail of report versions (append-only)."),
    "user": ("service", "Manage API users."),
    "backup": ("backup", "Back up the database and the reports; verify a backup."),
    "inputs": ("inputs", "CER inputs: what only the manufacturer or evaluator can supply."),
    "literature": (
        "literature",
        "Literature review: search protocol, searches, screening and its log.",
    ),
}


def load_commands(module_name: str) -> dict[str, Any]:
    """Import one command module and build the Click commands it registers.

    Each module keeps its `register(app)` (the same code paths the eager app used), so a
    command behaves exactly as before once loaded; only the moment of import moves."""
    module = importlib.import_module(f"cerflow.cli.{module_name}")
    holder = typer.Typer()
    module.register(holder)
    return dict(typer.main.get_group(holder).commands)


class LazyGroup(TyperGroup):
    """The root group: command modules are imported on first use, not at start-up.

    While the root help is printed, commands not loaded yet are stand-ins carrying only
    their name and help line, so listing the commands imports nothing."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module_name, help_line = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=help_line)
        self.commands.update(
            {k: v for k, v in load_commands(module_name).items() if k not in self.commands}
        )
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as e:
            # Typer suggests from the loaded commands only; offer every known name.
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in e.message:
                suggestions = ", ".join(repr(m) for m in matches)
                e.message = f"{e.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


app = typer.Typer(
    name="cerflow",
    cls=LazyGroup,
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


__all__ = ["COMMANDS", "LazyGroup", "app", "load_commands"]
