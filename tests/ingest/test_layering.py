"""`cerflow.ingest` has no terminal code: the CLI, jobs and the API share it as it is."""

from __future__ import annotations

import ast
from pathlib import Path

import cerflow.ingest

UI_PACKAGES = {"typer", "click", "rich"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_ingest_imports_no_terminal_library() -> None:
    package = Path(cerflow.ingest.__file__).parent
    offenders = {
        str(path.relative_to(package)): sorted(_imported_roots(path) & UI_PACKAGES)
        for path in sorted(package.glob("*.py"))
        if _imported_roots(path) & UI_PACKAGES
    }
    assert offenders == {}


def test_ingest_imports_no_cli_module() -> None:
    package = Path(cerflow.ingest.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "cerflow.cli" not in text and "typer.Exit" not in text, path.name
