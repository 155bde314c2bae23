"""`cerflow user create/list` on a migrated SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cerflow.auth.models import User
from cerflow.auth.security import verify_password
from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.db import make_engine, make_session_factory
from cerflow.store import migrate


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_user_create_and_list(db_url: str) -> None:
    runner = CliRunner()
    secret = "a very long passphrase"
    result = runner.invoke(
        app,
        ["user", "create", "--email", "Boss@Example.org", "--role", "admin"],
        input=f"{secret}\n{secret}\n",
    )
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        user = s.scalar(select(User))
        assert user is not None
        assert (user.email, user.role) == ("boss@example.org", "admin")
        assert verify_password(secret, user.password_hash)
    engine.dispose()
    again = runner.invoke(
        app, ["user", "create", "--email", "boss@example.org"], input=f"{secret}\n{secret}\n"
    )
    assert again.exit_code == 1 and "already exists" in again.output
    listed = runner.invoke(app, ["user", "list"])
    assert listed.exit_code == 0 and "boss@example.org" in listed.output


def test_short_password_refused(db_url: str) -> None:
    result = CliRunner().invoke(
        app, ["user", "create", "--email", "x@example.org"], input="short\nshort\n"
    )
    assert result.exit_code == 2 and "12 characters" in result.output


def _serve_kwargs(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 0, result.output
    return seen


def test_serve_trusts_no_forwarded_headers_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CERFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CERFLOW_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()
    try:
        kwargs = _serve_kwargs(monkeypatch)
    finally:
        get_settings.cache_clear()
    # Not even loopback: a client on the same host could otherwise pick its own address.
    assert kwargs["proxy_headers"] is False


def test_serve_trusts_forwarded_headers_only_from_listed_proxies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CERFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CERFLOW_TRUSTED_PROXIES", "10.1.0.0/16, 192.0.2.7")
    get_settings.cache_clear()
    try:
        kwargs = _serve_kwargs(monkeypatch)
    finally:
        get_settings.cache_clear()
    assert kwargs["proxy_headers"] is True
    assert kwargs["forwarded_allow_ips"] == "10.1.0.0/16,192.0.2.7"
