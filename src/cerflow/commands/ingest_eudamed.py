"""`cerflow ingest eudamed` (filled in by the issue that builds it)."""

from __future__ import annotations

import typer


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest eudamed` to the ingest group."""
