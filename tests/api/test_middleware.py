"""Security headers, CORS, body limit, clear 422s, request ids, and no stack traces."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cerflow.auth.models import Role
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_security_headers_everywhere(client: TestClient, actors: Actors) -> None:
    for resp in (
        client.get("/health/live"),
        client.get("/api/v1/watched"),  # 401
        client.get("/api/v1/watched", headers=actors[Role.VIEWER].headers),
    ):
        h = resp.headers
        assert h["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in h
        assert len(h["x-request-id"]) == 32


def test_hsts_only_behind_https(client: TestClient) -> None:
    resp = client.get("/health/live", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["strict-transport-security"].startswith("max-age=")


def test_request_id_is_propagated_or_replaced(client: TestClient) -> None:
    assert (
        client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    bad = client.get("/health/live", headers={"X-Request-ID": "a b<script>"})
    assert bad.headers["x-request-id"] != "a b<script>"


def test_cors_allowlist(client: TestClient) -> None:
    ok = client.options(
        "/api/v1/watched",
        headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example.org"
    evil = client.options(
        "/api/v1/watched",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in evil.headers


def test_body_limit_413(client: TestClient, actors: Actors, app: FastAPI) -> None:
    limit = app.state.cerflow.settings.max_body_bytes
    big = {"rating": 3, "comment": "x" * (limit + 10)}
    resp = client.post("/api/v1/reports/r1/feedback", json=big, headers=actors[Role.VIEWER].headers)
    assert resp.status_code == 413
    assert resp.json()["detail"] == f"request body larger than {limit} bytes"

    def chunks() -> object:  # no Content-Length: the limit applies while streaming
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    streamed = client.post(
        "/api/v1/reports/r1/feedback",
        content=chunks(),  # type: ignore[arg-type]
        headers={**actors[Role.VIEWER].headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_validation_errors_are_clear_and_do_not_echo_input(
    client: TestClient, actors: Actors
) -> None:
    resp = client.post(
        "/api/v1/auth/login", json={"email": "not-an-email", "password": "SECRET-PASSWORD-1"}
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "email"]]
    assert detail[0]["msg"] == "not a valid e-mail address (expected name@domain.tld)"
    assert "SECRET-PASSWORD-1" not in resp.text and "input" not in detail[0]
    rating = client.post(
        "/api/v1/reports/r1/feedback", json={"rating": 9}, headers=actors[Role.VIEWER].headers
    )
    assert rating.status_code == 422
    assert rating.json()["detail"][0]["loc"] == ["body", "rating"]
    assert "less than or equal to 5" in rating.json()["detail"][0]["msg"]


def test_unhandled_error_is_a_bare_500(app: FastAPI, client: TestClient) -> None:
    @app.get("/boom-test-only")
    def boom() -> None:
        raise RuntimeError("secret-internal-detail password=hunter2")

    resp = client.get("/boom-test-only", headers={"X-Forwarded-Proto": "https"})
    assert resp.status_code == 500
    assert resp.json() == {
        "detail": "internal server error",
        "request_id": resp.headers["x-request-id"],
    }
    assert "hunter2" not in resp.text and "Traceback" not in resp.text
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_health_and_metrics(client: TestClient, actors: Actors) -> None:
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "database": "ok",
        "redis": "ok",
        "migrations": "current",
    }
    client.get("/api/v1/watched", headers=actors[Role.VIEWER].headers)
    text = client.get("/metrics").text
    assert 'cerflow_http_requests_total{method="GET",route="/api/v1/watched",status="200"}' in text
