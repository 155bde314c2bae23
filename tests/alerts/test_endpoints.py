"""GET /api/v1/alerts and POST /api/v1/alerts/{id}/ack on the embedded default (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.alerts.models import Alert
from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.db import make_session_factory
from tests.api.conftest import Actor, create_actor


@pytest.fixture
def settings(sqlite_engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        environment=Environment.TESTING,
        data_dir=tmp_path,
        secret_key=SecretStr("alerts-router-secret-" + "a" * 40),
    )


@pytest.fixture
def factory(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sqlite_engine)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _alerts(factory: sessionmaker[Session], user_id: int, n: int) -> list[int]:
    ids = []
    with factory() as session:
        for i in range(n):
            alert = Alert(
                user_id=user_id,
                product_ref="DQA",
                kind="signal",
                dedup_key=f"signal:device:DQA:term{i}",
                title=f"New signal {i}",
                payload={"event": f"term{i}"},
            )
            session.add(alert)
            session.flush()
            ids.append(alert.id)
        session.commit()
    return ids


@pytest.fixture
def people(factory: sessionmaker[Session], settings: Settings) -> dict[str, Actor]:
    return {
        "viewer": create_actor(factory, settings, Role.VIEWER),
        "other": create_actor(factory, settings, Role.ANALYST),
        "admin": create_actor(factory, settings, Role.ADMIN),
    }


def test_own_alerts_newest_first_and_paginated(
    client: TestClient, factory: sessionmaker[Session], people: dict[str, Actor]
) -> None:
    mine = _alerts(factory, people["viewer"].id, 5)
    _alerts(factory, people["other"].id, 2)
    headers = people["viewer"].headers
    page1 = client.get("/api/v1/alerts", params={"limit": 2}, headers=headers).json()
    page2 = client.get("/api/v1/alerts", params={"limit": 2, "offset": 2}, headers=headers).json()
    page3 = client.get("/api/v1/alerts", params={"limit": 2, "offset": 4}, headers=headers).json()
    got = [a["id"] for a in page1 + page2 + page3]
    assert got == sorted(mine, reverse=True)
    assert {a["user_id"] for a in page1 + page2 + page3} == {people["viewer"].id}
    assert page1[0]["title"] == "New signal 4" and page1[0]["acknowledged_at"] is None


def test_ack_is_kept_once_and_filters_the_list(
    client: TestClient, factory: sessionmaker[Session], people: dict[str, Actor]
) -> None:
    first, second = _alerts(factory, people["viewer"].id, 2)
    headers = people["viewer"].headers
    acked = client.post(f"/api/v1/alerts/{first}/ack", headers=headers)
    assert acked.status_code == 200
    at = acked.json()["acknowledged_at"]
    assert at is not None
    again = client.post(f"/api/v1/alerts/{first}/ack", headers=headers)
    assert again.json()["acknowledged_at"] == at  # the first acknowledgement stands
    open_ = client.get("/api/v1/alerts", params={"unacknowledged": "true"}, headers=headers)
    assert [a["id"] for a in open_.json()] == [second]


def test_nobody_else_acknowledges_or_reads_my_alerts(
    client: TestClient, factory: sessionmaker[Session], people: dict[str, Actor]
) -> None:
    (alert_id,) = _alerts(factory, people["viewer"].id, 1)
    viewer_id = people["viewer"].id
    for who in ("other", "admin"):
        resp = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=people[who].headers)
        assert resp.status_code == 404
        assert f"no alert with id {alert_id}" in resp.json()["detail"]
    refused = client.get(
        "/api/v1/alerts", params={"user_id": viewer_id}, headers=people["other"].headers
    )
    assert refused.status_code == 403
    assert "only an admin" in refused.json()["detail"]
    as_admin = client.get(
        "/api/v1/alerts", params={"user_id": viewer_id}, headers=people["admin"].headers
    )
    assert [a["id"] for a in as_admin.json()] == [alert_id]
    with factory() as session:
        assert session.get(Alert, alert_id).acknowledged_at is None  # type: ignore[union-attr]


def test_bad_paging_is_a_clear_422(client: TestClient, people: dict[str, Actor]) -> None:
    resp = client.get("/api/v1/alerts", params={"limit": 0}, headers=people["viewer"].headers)
    assert resp.status_code == 422
    assert "limit" in resp.text
