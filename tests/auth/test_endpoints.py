"""Sign-in, refresh rotation with reuse detection, logout, API keys, admin user changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import ApiKey, RefreshToken, Role, User
from tests.api.conftest import PASSWORD, Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_login_and_me(client: TestClient, actors: Actors) -> None:
    viewer = actors[Role.VIEWER]
    tokens = _login(client, viewer.email.upper())  # e-mail is case-insensitive
    assert tokens["token_type"] == "bearer"
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == viewer.email
    assert me.json()["role"] == "viewer"


def test_wrong_password_is_401_without_echo(client: TestClient, actors: Actors) -> None:
    secret = "wrong-password-XYZ"
    resp = client.post(
        "/api/v1/auth/login", json={"email": actors[Role.VIEWER].email, "password": secret}
    )
    assert resp.status_code == 401
    assert resp.json() == {"detail": "incorrect e-mail or password"}
    assert secret not in resp.text
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.org", "password": secret}
    )
    assert unknown.status_code == 401
    assert unknown.json() == resp.json()  # no user enumeration


def test_refresh_rotates_and_reuse_revokes_the_family(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    first = _login(client, actors[Role.ANALYST].email)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]

    # The old token again: reuse -> 401, and the whole family (including `rotated`) is dead.
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    with session_factory() as s:
        rows = s.scalars(
            select(RefreshToken).where(RefreshToken.user_id == actors[Role.ANALYST].id)
        )
        family = [r for r in rows if r.family_id == rows_family(s, first)]
    assert len(family) == 2 and all(r.revoked_at is not None for r in family)


def rows_family(session: Session, tokens: dict[str, str]) -> str:
    import jwt

    jti = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["jti"]
    row = session.get(RefreshToken, jti)
    assert row is not None
    return row.family_id


def test_logout_revokes_refresh(client: TestClient, actors: Actors) -> None:
    tokens = _login(client, actors[Role.VIEWER].email)
    out = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def test_access_token_is_not_a_refresh_token(client: TestClient, actors: Actors) -> None:
    tokens = _login(client, actors[Role.VIEWER].email)
    resp = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert resp.status_code == 401
    refresh_as_access = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refresh_as_access.status_code == 401


def test_api_key_shown_once_stored_hashed_and_revocable(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    admin = actors[Role.ADMIN].headers
    made = client.post("/api/v1/api-keys", json={"name": "etl", "role": "analyst"}, headers=admin)
    assert made.status_code == 201
    body = made.json()
    key = body["key"]
    listed = client.get("/api/v1/api-keys", headers=admin).json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert key not in str(listed)
    with session_factory() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.id == body["id"]))
        assert row is not None and row.key_hash != key and key not in row.key_hash

    # An analyst key may start jobs but not manage users.
    assert (
        client.post("/api/v1/products/DQA/refresh", headers={"X-API-Key": key}).status_code == 202
    )
    assert client.get("/api/v1/users", headers={"X-API-Key": key}).status_code == 403
    # Also accepted as a bearer credential.
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/watched", headers=bearer).status_code == 200

    revoked = client.delete(f"/api/v1/api-keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 401
    wrong = key[:-3] + ("aaa" if not key.endswith("aaa") else "bbb")
    assert client.get("/api/v1/watched", headers={"X-API-Key": wrong}).status_code == 401


def test_admin_manages_users(client: TestClient, actors: Actors) -> None:
    admin = actors[Role.ADMIN].headers
    made = client.post(
        "/api/v1/users",
        json={"email": "New.Person@Example.org", "password": PASSWORD, "role": "analyst"},
        headers=admin,
    )
    assert made.status_code == 201
    user = made.json()
    assert user["email"] == "new.person@example.org" and user["role"] == "analyst"
    dup = client.post(
        "/api/v1/users",
        json={"email": "new.person@example.org", "password": PASSWORD},
        headers=admin,
    )
    assert dup.status_code == 409
    tokens = _login(client, "new.person@example.org")
    off = client.patch(f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin)
    assert off.status_code == 200 and off.json()["is_active"] is False
    # Deactivation revokes refresh tokens and blocks sign-in.
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "new.person@example.org", "password": PASSWORD}
        ).status_code
        == 401
    )
    short = client.post(
        "/api/v1/users", json={"email": "x@example.org", "password": "short"}, headers=admin
    )
    assert short.status_code == 422
    assert "short" not in short.text.replace("string_too_short", "")


def _only_admin(session_factory: sessionmaker[Session], admin_id: int) -> None:
    """Deactivate every other admin so `admin_id` is the last one (rolled back after the test)."""
    with session_factory() as session:
        session.execute(
            update(User).where(User.role == "admin", User.id != admin_id).values(is_active=False)
        )
        session.commit()


@pytest.mark.parametrize(
    "change",
    [
        {"role": "analyst", "is_active": False},
        {"role": "analyst"},
        {"role": "viewer"},
        {"is_active": False},
    ],
)
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    client: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    change: dict[str, object],
) -> None:
    admin = actors[Role.ADMIN]
    _only_admin(session_factory, admin.id)
    resp = client.patch(f"/api/v1/users/{admin.id}", json=change, headers=admin.headers)
    assert resp.status_code == 409, resp.text
    assert "last active admin" in resp.json()["detail"]
    me = client.get(f"/api/v1/users/{admin.id}", headers=admin.headers).json()
    assert me["role"] == "admin" and me["is_active"] is True


def test_an_admin_can_step_down_when_another_admin_remains(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    admin = actors[Role.ADMIN]
    _only_admin(session_factory, admin.id)
    other = client.post(
        "/api/v1/users",
        json={"email": "second.admin@example.org", "password": PASSWORD, "role": "admin"},
        headers=admin.headers,
    ).json()
    resp = client.patch(
        f"/api/v1/users/{admin.id}", json={"role": "analyst"}, headers=admin.headers
    )
    assert resp.status_code == 200, resp.text
    # Now `other` is the last one, and is protected in turn (checked with a token of theirs).
    tokens = _login(client, "second.admin@example.org")
    last = client.patch(
        f"/api/v1/users/{other['id']}",
        json={"is_active": False},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert last.status_code == 409


@pytest.mark.parametrize("value", [0, 1, "false", "true", "0", None])
def test_is_active_must_be_a_real_boolean(
    client: TestClient, actors: Actors, value: object
) -> None:
    admin = actors[Role.ADMIN].headers
    viewer = actors[Role.VIEWER]
    resp = client.patch(f"/api/v1/users/{viewer.id}", json={"is_active": value}, headers=admin)
    if value is None:  # explicit null means "no change", as before
        assert resp.status_code == 200
    else:
        assert resp.status_code == 422, resp.text


@pytest.mark.parametrize("name", ["line\r\nX-Injected: 1", "tab\there", "nul\x00", "del\x7f"])
def test_api_key_names_refuse_control_characters(
    client: TestClient, actors: Actors, name: str
) -> None:
    resp = client.post(
        "/api/v1/api-keys",
        json={"name": name, "role": "viewer"},
        headers=actors[Role.ADMIN].headers,
    )
    assert resp.status_code == 422, resp.text
