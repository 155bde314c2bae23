"""`cerflow --help` starts without the data stack, and the lazy root lists the real commands.

Start-up speed is measured in benchmarks/startup.py; these tests guard the architecture
that makes it fast (which modules a start-up imports), not a time."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cerflow.cli import COMMANDS, app, load_commands

# Libraries that cost a loaded machine seconds to import and that no help text needs.
DATA_STACK = (
    "polars", "numpy", "scipy", "statsmodels", "matplotlib", "weasyprint", "docx",
    "sqlalchemy", "alembic", "redis", "celery", "jinja2", "uvicorn", "fastapi",
)  # fmt: skip


def _imported_after(code: str) -> list[str]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({DATA_STACK!r}))),"
        " file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_command_module_and_no_data_library() -> None:
    code = "import cerflow.cli\nprint(sorted(m for m in sys.modules if m.startswith('cerflow')))"
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, timeout=120
    )
    assert probe.stdout.strip() == "['cerflow', 'cerflow.cli']"
    assert _imported_after("import cerflow.cli") == []


@pytest.mark.parametrize("argv", [["--help"], []])
def test_the_root_help_imports_no_data_library(argv: list[str]) -> None:
    code = (
        "from cerflow.cli import app\n"
        f"try:\n    app({argv!r}, prog_name='cerflow')\nexcept SystemExit:\n    pass"
    )
    assert _imported_after(code) == []


def test_every_command_module_registers_exactly_the_listed_commands() -> None:
    registered: dict[str, str] = {}
    for module in sorted({m for m, _ in COMMANDS.values()}):
        for name in load_commands(module):
            registered[name] = module
    assert registered == {name: module for name, (module, _) in COMMANDS.items()}


def test_the_listed_help_lines_are_the_commands_own() -> None:
    """The root help is printed from COMMANDS; each line must be what the command's own
    docstring or group help says, so the list cannot drift from the code."""
    for name, (module, line) in COMMANDS.items():
        command = load_commands(module)[name]
        own = (command.short_help or command.help or "").strip().split("\n\n")[0]
        assert " ".join(own.split()) == line, name


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_the_root_help_lists_every_command_in_order_with_its_line() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = [
        line.strip("│ ").split(None, 1)
        for line in _plain(result.output).splitlines()
        if line.startswith("│ ") and not line.startswith("│ --")
    ]
    assert rows == [[name, line] for name, (_, line) in COMMANDS.items()]


def test_a_lazy_command_runs_and_shows_its_own_help() -> None:
    result = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert {"openfda", "faers", "maude", "eudamed", "sample", "label"} <= set(
        re.findall(r"│ ([a-z-]+)\s", _plain(result.output))
    )
    schema = CliRunner().invoke(app, ["inputs", "schema"])
    assert schema.exit_code == 0, schema.output
    assert json.loads(schema.output)["title"]


def test_a_mistyped_command_is_refused_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["reprot"])
    assert result.exit_code == 2
    assert "No such command 'reprot'. Did you mean 'report'?" in " ".join(
        _plain(result.output).replace("│", " ").split()
    )


def test_loading_serve_imports_none_of_the_app_before_uvicorn_builds_it() -> None:
    """The app's modules load inside the factory uvicorn calls (`cerflow.asgi`), where full
    garbage collections are held back; none may load earlier, with the command."""
    code = (
        "from cerflow.cli import load_commands\n"
        "load_commands('serve')\n"
        "print(sorted(m for m in sys.modules if m.startswith('cerflow')))"
    )
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    assert (
        probe.stdout.strip() == "['cerflow', 'cerflow.cli', 'cerflow.cli.serve', 'cerflow.config']"
    )
    assert _imported_after(code) == []


def test_serve_hands_uvicorn_the_factory_that_builds_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(app=a[0], **kw))
    result = CliRunner().invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 0, result.output
    assert (seen["app"], seen["factory"]) == ("cerflow.asgi:create_app", True)
