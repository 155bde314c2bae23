"""The cached-read fast path (`products.cached_read`): same answers as the endpoint,
every check kept, no Redis round trip waited for and no SQL for a hit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aredis
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth import tokenversion
from cerflow.auth.models import Role, User
from cerflow.observability.metrics import sample_value
from cerflow.products import cached_read, detail_cache
from tests.api.conftest import Actors, forge_token, tamper
from tests.api.seed import seed_products

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PATH = "/api/v1/products/DQA"
TEMPLATE = "/api/v1/products/{ref}"


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> int:
    return seed_products(session_factory)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the fast path did with each request: True served, False left to the router."""
    outcomes: list[bool] = []
    original = cached_read.CachedProductRead._serve

    async def spy(self: Any, *args: Any) -> bool:
        done = await original(self, *args)
        outcomes.append(done)
        return done

    monkeypatch.setattr(cached_read.CachedProductRead, "_serve", spy)
    return outcomes


def test_a_hit_is_served_by_the_fast_path_as_the_endpoint_would(
    client: TestClient, actors: Actors, seeded: int, served: list[bool]
) -> None:
    h = actors[Role.VIEWER].headers
    labels = {"method": "GET", "route": TEMPLATE, "status": "200"}
    before = sample_value("cerflow_http_requests_total", labels)
    first = client.get(PATH, headers=h)  # miss: the endpoint computes
    second = client.get("/api/v1/products/%20dqa", headers=h)  # same normalized product
    assert served == [False, True]
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.content == first.content  # the stored bytes, not re-serialised
    assert second.headers["etag"] == first.headers["etag"] == detail_cache.etag_of(first.content)
    assert second.headers["content-type"] == "application/json"
    assert int(second.headers["content-length"]) == len(first.content)
    # Every middleware still ran around it: request id, security headers, metrics.
    assert len(second.headers["x-request-id"]) == 32
    assert second.headers["x-content-type-options"] == "nosniff"
    assert second.headers["cache-control"] == "no-store"
    assert second.headers["content-security-policy"].startswith("default-src 'none'")
    assert sample_value("cerflow_http_requests_total", labels) == before + 2
    assert client.get(PATH, headers={**h, "X-Request-ID": "abc-1"}).headers["x-request-id"] == (
        "abc-1"
    )


def test_if_none_match_answers_304_without_a_body(
    client: TestClient, actors: Actors, seeded: int, served: list[bool]
) -> None:
    h = actors[Role.VIEWER].headers
    etag = client.get(PATH, headers=h).headers["etag"]
    same = client.get(PATH, headers={**h, "If-None-Match": f'"other", W/{etag}'})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    other = client.get(PATH, headers={**h, "If-None-Match": '"other"'})
    assert other.status_code == 200 and other.headers["etag"] == etag
    assert served == [False, True, True]
    # Without credentials a tag proves nothing: 401 as before.
    assert client.get(PATH, headers={"If-None-Match": etag}).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-jwt"},
    ],
)
def test_missing_or_bad_credentials_get_the_routers_401(
    client: TestClient, actors: Actors, seeded: int, served: list[bool], headers: dict[str, str]
) -> None:
    assert client.get(PATH, headers=actors[Role.VIEWER].headers).status_code == 200  # cached
    resp = client.get(PATH, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert "x-cache" not in resp.headers
    assert served[-1:] == [False] or not headers  # no Authorization: not even tried


def test_tampered_expired_and_wrong_type_tokens_are_refused_on_a_warm_cache(
    client: TestClient, actors: Actors, seeded: int, settings: Any
) -> None:
    viewer = actors[Role.VIEWER]
    assert client.get(PATH, headers=viewer.headers).status_code == 200
    for token in (
        tamper(viewer.access_token),
        forge_token(settings, sub=viewer.id, role="viewer", exp=int(time.time()) - 60),
        viewer.refresh_token,
    ):
        resp = client.get(PATH, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, token


def test_a_changed_account_is_refused_even_when_the_body_is_cached(
    client: TestClient,
    actors: Actors,
    seeded: int,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    viewer = actors[Role.VIEWER]
    assert client.get(PATH, headers=viewer.headers).status_code == 200
    assert client.get(PATH, headers=viewer.headers).headers["x-cache"] == "hit"
    with session_factory() as session:  # as another process would: no ORM event here
        session.execute(
            update(User)
            .where(User.id == viewer.id)
            .values(token_version=User.token_version + 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    now = tokenversion._clock()
    monkeypatch.setattr(tokenversion, "_clock", lambda: now + tokenversion.TTL_SECONDS + 0.1)
    resp = client.get(PATH, headers=viewer.headers)
    assert resp.status_code == 401
    assert "no longer valid" in resp.json()["detail"]


def test_api_keys_still_read_through_the_endpoint(
    client: TestClient, actors: Actors, seeded: int, served: list[bool]
) -> None:
    admin = actors[Role.ADMIN]
    assert client.get(PATH, headers=admin.headers).status_code == 200
    key = client.post(
        "/api/v1/api-keys", json={"name": "reader", "role": "viewer"}, headers=admin.headers
    )
    assert key.status_code == 201, key.text
    resp = client.get(PATH, headers={"X-API-Key": key.json()["key"]})
    assert resp.status_code == 200 and resp.headers["x-cache"] == "hit"
    assert served[-1] is False  # left to the endpoint, which checks keys in the database
    tagged = client.get(
        PATH, headers={"X-API-Key": key.json()["key"], "If-None-Match": resp.headers["etag"]}
    )
    assert (tagged.status_code, tagged.content) == (304, b"")  # the endpoint's 304


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("/api/v1/products/DQA", "DQA"),
        ("/api/v1/products/%20dqa", " dqa"),
        ("/api/v1/products/search", None),
        ("/api/v1/products/DQA/refresh", None),
        ("/api/v1/products/", None),
        ("/api/v1/products/%20%20", None),
        ("/api/v1/products/" + "X" * 256, None),
        ("/api/v1/productsDQA", None),
        ("/api/v1/products/DQA/", None),
        ("/api/v1/products/a/b", None),
    ],
)
def test_only_paths_of_the_detail_route_are_taken(path: str, ref: str | None) -> None:
    assert cached_read.plain_ref(path.replace("%20", " ")) == ref


@pytest.fixture
def counted_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Redis commands the async client sends (a pipeline counts once, with its size)."""
    calls: list[str] = []
    command = aredis.Redis.execute_command
    pipeline = aredis.client.Pipeline.execute

    async def one(self: Any, *args: Any, **kw: Any) -> Any:
        calls.append(str(args[0]))
        return await command(self, *args, **kw)

    async def batch(self: Any, *args: Any, **kw: Any) -> Any:
        calls.append(f"pipeline of {len(self.command_stack)}")
        return await pipeline(self, *args, **kw)

    monkeypatch.setattr(aredis.Redis, "execute_command", one)
    monkeypatch.setattr(aredis.client.Pipeline, "execute", batch)
    yield calls


def test_a_cached_read_waits_for_no_redis_round_trip_and_makes_no_sql(
    client: TestClient,
    actors: Actors,
    seeded: int,
    session_factory: sessionmaker[Session],
    counted_redis: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = actors[Role.VIEWER].headers
    # Memos that do not run out during the test, so a slow machine cannot add a look-up.
    monkeypatch.setattr(tokenversion, "TTL_SECONDS", 3600.0)
    state = client.app.state  # type: ignore[attr-defined]
    detail_cache.version_memo(state, state.cerflow).ttl = 3600.0
    assert client.get(PATH, headers=h).headers["x-cache"] == "miss"
    statements: list[str] = []
    bind = session_factory.kw["bind"]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", record)
    counted_redis.clear()
    try:
        resp = client.get(PATH, headers=h)
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert resp.headers["x-cache"] == "hit"
    assert statements == []
    # Body from the per-process copy (no GET); the rate limit known far from full, so the
    # request is recorded by a background batch (at most one pipeline, one call per key:
    # user and address) instead of waiting for a check.
    assert counted_redis in ([], ["pipeline of 2"])
