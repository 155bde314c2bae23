"""Role changes, deactivation and password changes end old access tokens within seconds.

Before, an access token stayed valid for its whole lifetime (15 minutes): a deactivated
analyst's old token still got 202 on POST /products/LZG/refresh.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth import tokenversion
from cerflow.auth.models import Role, User
from tests.api.conftest import PASSWORD, Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _empty_memo() -> None:
    tokenversion.invalidate()


def _patch(client: TestClient, actors: Actors, user_id: int, change: dict[str, object]) -> None:
    resp = client.patch(f"/api/v1/users/{user_id}", json=change, headers=actors[Role.ADMIN].headers)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"role": "viewer"}, {"password": "a brand new passphrase"}],
    ids=["deactivated", "demoted", "password-changed"],
)
def test_old_access_token_is_refused_after_the_change(
    client: TestClient, actors: Actors, change: dict[str, object]
) -> None:
    analyst = actors[Role.ANALYST]
    assert client.get("/api/v1/auth/me", headers=analyst.headers).status_code == 200
    _patch(client, actors, analyst.id, change)
    resp = client.post("/api/v1/products/LZG/refresh", headers=analyst.headers)
    assert resp.status_code == 401, resp.text
    assert client.get("/api/v1/auth/me", headers=analyst.headers).status_code == 401


def test_a_new_login_after_a_role_change_works_with_the_new_role(
    client: TestClient, actors: Actors
) -> None:
    analyst = actors[Role.ANALYST]
    _patch(client, actors, analyst.id, {"role": "viewer"})
    login = client.post(
        "/api/v1/auth/login", json={"email": analyst.email, "password": PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["role"] == "viewer"
    assert client.post("/api/v1/products/LZG/refresh", headers=headers).status_code == 403


def test_a_change_by_another_process_is_honoured_after_the_ttl(
    client: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    viewer = actors[Role.VIEWER]
    assert client.get("/api/v1/auth/me", headers=viewer.headers).status_code == 200
    # A write this process's ORM events do not see (another worker, raw SQL).
    with session_factory() as session:
        session.execute(
            update(User)
            .where(User.id == viewer.id)
            .values(token_version=User.token_version + 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    now = tokenversion._clock()
    monkeypatch.setattr(tokenversion, "_clock", lambda: now + tokenversion.TTL_SECONDS + 0.1)
    assert client.get("/api/v1/auth/me", headers=viewer.headers).status_code == 401


def test_the_version_is_looked_up_once_per_ttl(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    viewer = actors[Role.VIEWER]
    seen: list[str] = []
    bind = session_factory.kw["bind"]

    @event.listens_for(bind, "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "token_version" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    for _ in range(3):
        assert client.get("/api/v1/watched", headers=viewer.headers).status_code == 200
    event.remove(bind, "before_cursor_execute", _record)
    assert len(seen) == 1


def test_api_keys_of_a_deactivated_or_demoted_owner_stop_working(
    client: TestClient, actors: Actors
) -> None:
    admin = actors[Role.ADMIN]
    second = client.post(
        "/api/v1/users",
        json={"email": "keyowner@example.org", "password": PASSWORD, "role": "admin"},
        headers=admin.headers,
    ).json()
    login = client.post(
        "/api/v1/auth/login", json={"email": "keyowner@example.org", "password": PASSWORD}
    ).json()
    owner = {"Authorization": f"Bearer {login['access_token']}"}
    made = client.post("/api/v1/api-keys", json={"name": "m", "role": "admin"}, headers=owner)
    key = {"X-API-Key": made.json()["key"]}
    assert client.get("/api/v1/users", headers=key).status_code == 200
    _patch(client, actors, second["id"], {"role": "viewer"})
    # The key cannot keep more rights than its owner has now.
    assert client.get("/api/v1/users", headers=key).status_code == 403
    assert client.get("/api/v1/watched", headers=key).status_code == 200
    _patch(client, actors, second["id"], {"is_active": False})
    assert client.get("/api/v1/watched", headers=key).status_code == 401
