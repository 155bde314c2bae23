"""`cerflow demo` ends with the pages' address and demo logins that really sign in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cerflow.auth import service as auth_service
from cerflow.cli.report import DEMO_USERS, _demo_logins, _print_web_hint
from cerflow.db import make_session_factory


def test_demo_logins_sign_in_with_their_role(
    sqlite_engine: Engine, tmp_path: Path, capsys: object
) -> None:
    logins = _demo_logins(sqlite_engine)
    assert [(e, r) for e, r, _ in logins] == list(DEMO_USERS)
    assert len({p for _, _, p in logins}) == 3 and all(len(p) >= 12 for _, _, p in logins)
    with make_session_factory(sqlite_engine)() as session:
        for email, role, password in logins:
            user = auth_service.authenticate(session=session, email=email, password=password)
            assert user.role == role
    _print_web_hint(tmp_path, tmp_path / "demo.db", logins)
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "http://127.0.0.1:8000/" in printed and "cerflow serve" in printed
    assert all(p in printed for _, _, p in logins)
