"""Sliding-window limits on the real Redis: 429 with Retry-After, per user and per address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.ratelimit import Decision, Limit, RedisRateLimiter
from cerflow.redis import RedisClients
from tests.api.conftest import create_actor, make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def limited(
    pg_url: str, redis_prefix: str, session_factory: sessionmaker[Session]
) -> Iterator[tuple[TestClient, object]]:
    settings = make_settings(
        pg_url,
        redis_prefix,
        rate_limit_per_user=3,
        rate_limit_per_ip=5,
        rate_limit_window_seconds=30,
    )
    app = create_app(settings, session_factory=session_factory, job_submitter=RecordingSubmitter())
    with TestClient(app) as client:
        yield client, settings


def test_per_user_limit_then_429_with_retry_after(
    limited: tuple[TestClient, object], session_factory: sessionmaker[Session]
) -> None:
    client, settings = limited
    a = create_actor(session_factory, settings, Role.VIEWER)  # type: ignore[arg-type]
    b = create_actor(session_factory, settings, Role.VIEWER)  # type: ignore[arg-type]
    codes = [client.get("/api/v1/watched", headers=a.headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/watched", headers=a.headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert "user" in refused.json()["detail"]
    # Another user still passes (until the shared address limit of 5 is reached).
    assert client.get("/api/v1/watched", headers=b.headers).status_code == 200


def test_per_ip_limit_applies_without_credentials(limited: tuple[TestClient, object]) -> None:
    client, _ = limited
    codes = [client.get("/api/v1/watched").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    # Health and metrics are not limited.
    assert client.get("/health/live").status_code == 200


def test_concurrent_checks_share_a_round_trip_and_still_count_exactly(
    pg_url: str, redis_prefix: str
) -> None:
    settings = make_settings(pg_url, redis_prefix, rate_limit_window_seconds=30)
    clients = RedisClients(settings)
    limiter = RedisRateLimiter(clients, settings.rate_limit_window_seconds)
    limits = [Limit("user", "batch", 5)]
    executed: list[int] = []
    real_execute = limiter._execute

    async def counting_execute(batch: list[Any]) -> list[Any]:
        executed.append(len(batch))
        return await real_execute(batch)

    limiter._execute = counting_execute  # type: ignore[method-assign]

    async def scenario() -> list[Decision]:
        try:
            together = await asyncio.gather(*(limiter.hit(limits) for _ in range(8)))
            limiter._script.sha = "0" * 40  # as after a Redis restart: NOSCRIPT, reload, retry
            return [*together, await limiter.hit(limits)]
        finally:
            await clients.aclose()

    decisions = asyncio.run(scenario())
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 4
    assert all(1 <= d.retry_after <= 30 and d.scope == "user" for d in decisions[5:])
    assert executed == [8, 1, 1]  # one pipeline for the eight; the last one ran twice
    assert clients.limiter_gate.available() and not clients.limiter_gate.is_down


def test_far_from_the_limit_requests_do_not_wait_and_redis_still_counts_them_all(
    pg_url: str, redis_prefix: str
) -> None:
    settings = make_settings(pg_url, redis_prefix, rate_limit_window_seconds=30)
    clients = RedisClients(settings)
    limiter = RedisRateLimiter(clients, settings.rate_limit_window_seconds)
    limits = [Limit("user", "far", 100_000), Limit("ip", "far", 100_000)]
    executed: list[int] = []
    real_execute = limiter._execute

    async def counting_execute(batch: list[Any]) -> list[Any]:
        executed.append(len(batch))
        return await real_execute(batch)

    limiter._execute = counting_execute  # type: ignore[method-assign]

    async def scenario() -> tuple[list[Decision], list[int]]:
        try:
            first = await limiter.hit(limits)  # nothing known yet: the exact check
            rest = [await limiter.hit(limits) for _ in range(499)]  # known far below
            waited = list(executed)
            await asyncio.sleep(0.2)  # the background record goes out
            keys = [clients.key("rl", lim.scope, lim.identity) for lim in limits]
            counts = [int(await clients.aio.zcard(k)) for k in keys]
            return [first, *rest], [len(waited), *counts]
        finally:
            await clients.aclose()

    decisions, (round_trips_awaited, user_count, ip_count) = asyncio.run(scenario())
    assert all(d.allowed for d in decisions)
    assert round_trips_awaited == 1  # only the first request waited for Redis
    assert (user_count, ip_count) == (500, 500)  # every request recorded, once


def test_near_the_limit_the_check_is_exact_again(pg_url: str, redis_prefix: str) -> None:
    settings = make_settings(pg_url, redis_prefix, rate_limit_window_seconds=30)
    clients = RedisClients(settings)
    limiter = RedisRateLimiter(clients, settings.rate_limit_window_seconds)
    limits = [Limit("user", "near", 40)]  # headroom 4, at most 1 unrecorded request

    async def scenario() -> list[Decision]:
        try:
            return [await limiter.hit(limits) for _ in range(45)]
        finally:
            await clients.aclose()

    decisions = asyncio.run(scenario())
    assert [d.allowed for d in decisions] == [True] * 40 + [False] * 5
    assert all(d.scope == "user" and d.retry_after >= 1 for d in decisions[40:])
