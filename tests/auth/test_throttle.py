"""Login throttle: failed sign-ins per account and per address, in Redis or in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.throttle import LoginThrottle, MemoryCounter, TooManyAttempts
from cerflow.jobs.interface import RecordingSubmitter
from tests.api.conftest import PASSWORD, Actors, make_settings

LOGIN = "/api/v1/auth/login"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(clock: _Clock) -> LoginThrottle:
    return LoginThrottle(MemoryCounter(clock=clock), per_account=3, per_ip=5, window_seconds=60)


def test_memory_throttle_blocks_an_account_then_forgets_after_the_window() -> None:
    clock = _Clock()
    throttle = _throttle(clock)
    for _ in range(3):
        throttle.check(email="A@example.org", ip="192.0.2.1")
        throttle.failed(email="a@example.org", ip="192.0.2.1")
    with pytest.raises(TooManyAttempts) as info:
        throttle.check(email="a@example.org ", ip="192.0.2.9")  # same account, other address
    assert 1 <= info.value.retry_after <= 60
    throttle.check(email="b@example.org", ip="192.0.2.9")  # other accounts are unaffected
    clock.now += 61
    throttle.check(email="a@example.org", ip="192.0.2.1")


def test_memory_throttle_blocks_an_address_spraying_many_accounts() -> None:
    throttle = _throttle(_Clock())
    for i in range(5):
        throttle.failed(email=f"user{i}@example.org", ip="198.51.100.7")
    with pytest.raises(TooManyAttempts):
        throttle.check(email="someone.new@example.org", ip="198.51.100.7")
    throttle.check(email="someone.new@example.org", ip="198.51.100.8")


def test_success_clears_the_account_count() -> None:
    throttle = _throttle(_Clock())
    for _ in range(2):
        throttle.failed(email="a@example.org", ip="192.0.2.1")
    throttle.succeeded(email="a@example.org")
    for _ in range(2):
        throttle.failed(email="a@example.org", ip="192.0.2.1")
    throttle.check(email="a@example.org", ip="192.0.2.1")


@pytest.fixture
def strict_client(
    pg_url: str, redis_prefix: str, session_factory: sessionmaker[Session]
) -> Iterator[TestClient]:
    cfg = make_settings(
        pg_url, redis_prefix, login_max_failures_per_account=3, login_max_failures_per_ip=50
    )
    app = create_app(cfg, session_factory=session_factory, job_submitter=RecordingSubmitter())
    with TestClient(app) as c:
        yield c


@pytest.mark.postgres
@pytest.mark.redis
def test_api_answers_429_with_retry_after_even_for_the_right_password(
    strict_client: TestClient, actors: Actors
) -> None:
    from cerflow.auth.models import Role

    email = actors[Role.VIEWER].email
    for _ in range(3):
        bad = strict_client.post(LOGIN, json={"email": email, "password": "wrong password"})
        assert bad.status_code == 401
    blocked = strict_client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429, blocked.text
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "too many failed sign-ins" in blocked.json()["detail"]
    # Another account from the same address still signs in.
    other = actors[Role.ANALYST].email
    assert strict_client.post(LOGIN, json={"email": other, "password": PASSWORD}).status_code == 200
