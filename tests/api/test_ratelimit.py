"""Sliding-window limits on the real Redis: 429 with Retry-After, per user and per address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
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
