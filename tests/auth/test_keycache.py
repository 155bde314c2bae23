"""Verified API keys are remembered briefly; revocation and deactivation still refuse at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth import keycache
from cerflow.auth.models import ApiKey, Role, User
from cerflow.auth.service import Principal
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PRINCIPAL = Principal(kind="api_key", user_id=1, role=Role.VIEWER, api_key_id=9)


@pytest.fixture(autouse=True)
def _empty_memo() -> None:
    keycache.invalidate()


def _key_selects(session_factory: sessionmaker[Session]) -> list[str]:
    """Records every statement reading the api_keys table through this test's connection."""
    seen: list[str] = []
    bind = session_factory.kw["bind"]

    @event.listens_for(bind, "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "api_keys" in statement:
            seen.append(statement)

    return seen


def _make_key(client: TestClient, admin: dict[str, str]) -> tuple[int, str]:
    made = client.post("/api/v1/api-keys", json={"name": "m", "role": "viewer"}, headers=admin)
    assert made.status_code == 201
    return int(made.json()["id"]), str(made.json()["key"])


def test_second_request_skips_the_database_and_revocation_refuses_at_once(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    admin = actors[Role.ADMIN].headers
    key_id, key = _make_key(client, admin)
    selects = _key_selects(session_factory)
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 200
    assert len(selects) == 1
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 200
    assert len(selects) == 1  # served from the memo
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code == 200
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 401


def test_deactivating_the_owner_refuses_a_remembered_key_at_once(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    admin = actors[Role.ADMIN]
    _key_id, key = _make_key(client, admin.headers)
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 200
    assert keycache.get(key) is not None
    with session_factory() as s:  # the owner is the admin who made the key
        user = s.get(User, admin.id)
        assert user is not None
        user.is_active = False
        s.commit()
    assert keycache.get(key) is None
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 401


def test_a_revocation_outside_this_process_is_honoured_within_the_ttl(
    client: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another uvicorn worker sees no mapper event: its entry lapses after TTL_SECONDS."""
    key_id, key = _make_key(client, actors[Role.ADMIN].headers)
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 200
    with session_factory() as s:  # Core update: no mapper event, as in another process
        s.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=ApiKey.created_at))
        s.commit()
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 200
    real = keycache._clock
    monkeypatch.setattr(keycache, "_clock", lambda: real() + keycache.TTL_SECONDS + 0.01)
    assert keycache.get(key) is None
    assert client.get("/api/v1/watched", headers={"X-API-Key": key}).status_code == 401


def test_a_lookup_that_raced_with_a_change_is_not_stored() -> None:
    seen = keycache.generation()
    keycache.invalidate()  # e.g. a revocation committed while the look-up ran
    keycache.put("cfk_x", PRINCIPAL, seen)
    assert keycache.get("cfk_x") is None
    keycache.put("cfk_x", PRINCIPAL, keycache.generation())
    assert keycache.get("cfk_x") == PRINCIPAL
    assert keycache.get("cfk_y") is None
