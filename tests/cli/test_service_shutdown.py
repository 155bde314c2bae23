"""`cerflow serve` hands uvicorn the graceful-shutdown bound from the settings."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from cerflow.cli import app, serve
from cerflow.config import Settings


@pytest.mark.parametrize("grace", [25, 7])
def test_serve_passes_the_shutdown_grace(monkeypatch: pytest.MonkeyPatch, grace: int) -> None:
    seen: dict[str, Any] = {}
    settings = Settings(shutdown_grace_seconds=grace)
    monkeypatch.setattr(serve, "get_settings", lambda: settings)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 0, result.output
    assert seen["timeout_graceful_shutdown"] == grace


def test_the_grace_must_be_positive() -> None:
    with pytest.raises(ValueError, match="shutdown_grace_seconds"):
        Settings(shutdown_grace_seconds=0)
