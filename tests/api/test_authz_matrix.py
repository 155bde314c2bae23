"""Every route x every kind of caller -> the expected status.

The table below is the contract: one entry per (method, path) of the app. A route added
later without an entry fails `test_every_route_has_an_entry`, so nobody can ship an
endpoint without deciding who may call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.config import Settings
from tests.api.conftest import (
    PASSWORD,
    Actors,
    alg_none_token,
    create_actor,
    forge_token,
    tamper,
)

PUBLIC = None


@dataclass(frozen=True)
class Case:
    role: Role | None  # minimum role; None = public
    status: int  # expected status for an allowed caller
    body: Callable[[Context], Any] | None = None
    params: dict[str, str] | None = None


@dataclass
class Context:
    client: TestClient
    actors: Actors
    factory: sessionmaker[Session]
    settings: Settings

    def fresh_refresh(self) -> str:
        return create_actor(self.factory, self.settings, Role.VIEWER).refresh_token


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


EXPECTED: dict[tuple[str, str], Case] = {
    ("GET", "/openapi.json"): Case(PUBLIC, 200),
    ("GET", "/docs"): Case(PUBLIC, 200),
    ("GET", "/health/live"): Case(PUBLIC, 200),
    ("GET", "/health/ready"): Case(PUBLIC, 200),
    ("GET", "/metrics"): Case(PUBLIC, 200),
    ("POST", "/api/v1/auth/login"): Case(
        PUBLIC, 200, lambda c: {"email": c.actors[Role.VIEWER].email, "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/refresh"): Case(
        PUBLIC, 200, lambda c: {"refresh_token": c.fresh_refresh()}
    ),
    ("POST", "/api/v1/auth/logout"): Case(
        PUBLIC, 204, lambda c: {"refresh_token": c.fresh_refresh()}
    ),
    ("GET", "/api/v1/auth/me"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/users"): Case(Role.ADMIN, 200),
    ("POST", "/api/v1/users"): Case(
        Role.ADMIN,
        201,
        lambda c: {"email": _unique("u") + "@example.org", "password": PASSWORD, "role": "viewer"},
    ),
    ("GET", "/api/v1/users/{user_id}"): Case(Role.ADMIN, 200),
    ("PATCH", "/api/v1/users/{user_id}"): Case(Role.ADMIN, 200, lambda c: {"role": "viewer"}),
    ("GET", "/api/v1/api-keys"): Case(Role.ADMIN, 200),
    ("POST", "/api/v1/api-keys"): Case(
        Role.ADMIN, 201, lambda c: {"name": _unique("key"), "role": "viewer"}
    ),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Case(Role.ADMIN, 404),
    ("GET", "/api/v1/products/search"): Case(Role.VIEWER, 200, params={"q": "DQA"}),
    ("GET", "/api/v1/products/{ref}"): Case(Role.VIEWER, 404),
    ("POST", "/api/v1/products/{ref}/refresh"): Case(Role.ANALYST, 202),
    ("POST", "/api/v1/products/{ref}/signal-reviews"): Case(
        Role.ANALYST,
        201,
        lambda c: {"event": "hypoxia", "decision": "needs_review", "reason": "case review pending"},
    ),
    ("GET", "/api/v1/products/{ref}/signal-reviews"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/products/{ref}/cer-inputs"): Case(Role.VIEWER, 404),
    ("PUT", "/api/v1/products/{ref}/cer-inputs"): Case(
        Role.ANALYST, 200, lambda c: {"schema_version": 1}
    ),
    ("GET", "/api/v1/products/{ref}/literature/protocol"): Case(Role.VIEWER, 404),
    ("PUT", "/api/v1/products/{ref}/literature/protocol"): Case(
        Role.ANALYST, 200, lambda c: {"names": ["aspirin"], "databases": ["pubmed"]}
    ),
    ("GET", "/api/v1/products/{ref}/literature/searches"): Case(Role.VIEWER, 200),
    ("POST", "/api/v1/products/{ref}/literature/searches"): Case(Role.ANALYST, 404),
    ("GET", "/api/v1/products/{ref}/literature/searches/{search_id}/records"): Case(
        Role.VIEWER, 404
    ),
    ("POST", "/api/v1/products/{ref}/literature/searches/{search_id}/decisions"): Case(
        Role.ANALYST,
        404,
        lambda c: {"record_id": 1, "stage": "title_abstract", "decision": "include"},
    ),
    ("POST", "/api/v1/products/{ref}/literature/searches/{search_id}/suggestions"): Case(
        Role.ANALYST, 409, lambda c: {}
    ),
    ("GET", "/api/v1/products/{ref}/literature/searches/{search_id}/screening.csv"): Case(
        Role.VIEWER, 404
    ),
    ("POST", "/api/v1/products/{ref}/literature/records/{item_id}/appraisals"): Case(
        Role.ANALYST,
        404,
        lambda c: {
            "suitability": {
                "device": "D1",
                "application": "A1",
                "population": "P1",
                "report": "R1",
            },
            "contribution": {
                "design": "T1",
                "outcomes": "O1",
                "follow_up": "F1",
                "statistics": "S1",
                "clinical_significance": "C1",
            },
        },
    ),
    ("GET", "/api/v1/products/{ref}/literature/appraisals"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/watched"): Case(Role.VIEWER, 200),
    ("POST", "/api/v1/watched"): Case(Role.ANALYST, 201, lambda c: {"product_ref": _unique("D")}),
    ("GET", "/api/v1/watched/{item_id}"): Case(Role.VIEWER, 404),
    ("PATCH", "/api/v1/watched/{item_id}"): Case(Role.ANALYST, 404, lambda c: {"note": "x"}),
    ("DELETE", "/api/v1/watched/{item_id}"): Case(Role.ANALYST, 404),
    ("POST", "/api/v1/reports/{report_id}/feedback"): Case(
        Role.VIEWER, 404, lambda c: {"rating": 4, "comment": "useful"}
    ),
    ("GET", "/api/v1/feedback"): Case(Role.ADMIN, 200),
    ("GET", "/api/v1/jobs"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/jobs/{job_id}"): Case(Role.VIEWER, 404),
    ("GET", "/api/tasks/{task_id}"): Case(Role.VIEWER, 404),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Case(Role.ANALYST, 404),
    ("POST", "/api/v1/jobs/{job_id}/retry"): Case(Role.ANALYST, 404),
    ("POST", "/api/v1/reports"): Case(Role.ANALYST, 202, lambda c: {"product_ref": "DQA"}),
    ("GET", "/api/v1/reports"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/reports/{report_id}"): Case(Role.VIEWER, 404),
    ("GET", "/api/v1/reports/{report_id}/download/{fmt}"): Case(Role.VIEWER, 404),
    ("POST", "/api/v1/webhooks"): Case(
        Role.ANALYST, 201, lambda c: {"url": "https://hooks.example.org/cerflow"}
    ),
    ("GET", "/api/v1/webhooks"): Case(Role.VIEWER, 200),
    ("POST", "/api/v1/webhooks/{hook_id}/enable"): Case(Role.ANALYST, 404),
    ("GET", "/api/v1/webhooks/{hook_id}/deliveries"): Case(Role.VIEWER, 404),
    ("DELETE", "/api/v1/webhooks/{hook_id}"): Case(Role.ANALYST, 404),
    ("GET", "/api/v1/alerts"): Case(Role.VIEWER, 200),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Case(Role.VIEWER, 404),
    ("GET", "/api/v1/versions"): Case(Role.VIEWER, 200),
    ("GET", "/api/v1/versions/{version_id}"): Case(Role.VIEWER, 404),
    ("POST", "/api/v1/versions/{version_id}/review"): Case(
        Role.ANALYST, 404, lambda c: {"comment": "checked"}
    ),
    ("POST", "/api/v1/versions/{version_id}/approve"): Case(
        Role.APPROVER, 404, lambda c: {"facts_sha256": "0" * 64}
    ),
    ("GET", "/api/v1/versions/{version_id}/diff/{other_id}"): Case(Role.VIEWER, 404),
    ("GET", "/api/v1/audit"): Case(Role.ADMIN, 200),
}


def is_page_route(route: Any) -> bool:
    """Web pages (cookie sessions, `cerflow.web.*_pages`) have their own matrix in tests/web."""
    module = getattr(getattr(route, "endpoint", None), "__module__", "") or ""
    return module.startswith("cerflow.web.") and module.endswith("_pages")


def app_routes(app: FastAPI, *, pages: bool = False) -> set[tuple[str, str]]:
    """(method, path) of every API route (or, with `pages`, of every web page route)."""
    try:
        from fastapi.routing import iter_route_contexts

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before router inclusion contexts
        routes = app.routes
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        if is_page_route(route) != pages:
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and path:
                found.add((method, path))
    return found


def test_every_route_has_an_entry(app: FastAPI) -> None:
    routes = app_routes(app)
    missing = routes - EXPECTED.keys()
    assert not missing, f"routes without an expected-role entry: {sorted(missing)}"
    stale = EXPECTED.keys() - routes
    assert not stale, f"entries for routes that no longer exist: {sorted(stale)}"


CALLERS = [
    "none",
    "viewer",
    "analyst",
    "admin",
    "approver",
    "viewer_api_key",
    "expired",
    "tampered",
    "alg_none",
]


def _headers(caller: str, ctx: Context, api_key: str) -> tuple[dict[str, str], Role | None, bool]:
    """(headers, effective role, credentials valid?)."""
    viewer = ctx.actors[Role.VIEWER]
    admin = ctx.actors[Role.ADMIN]
    if caller == "none":
        return {}, None, False
    if caller in ("viewer", "analyst", "admin", "approver"):
        actor = ctx.actors[Role(caller)]
        return actor.headers, actor.role, True
    if caller == "viewer_api_key":
        return {"X-API-Key": api_key}, Role.VIEWER, True
    if caller == "expired":
        token = forge_token(ctx.settings, sub=admin.id, role="admin", exp=1_600_000_000)
    elif caller == "tampered":
        token = tamper(viewer.access_token)
    else:
        token = alg_none_token(ctx.settings, sub=admin.id, role="admin")
    return {"Authorization": f"Bearer {token}"}, None, False


@pytest.mark.postgres
@pytest.mark.redis
def test_authorization_matrix(
    app: FastAPI,
    client: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    ctx = Context(client, actors, session_factory, settings)
    made = client.post(
        "/api/v1/api-keys",
        json={"name": "matrix", "role": "viewer"},
        headers=actors[Role.ADMIN].headers,
    )
    assert made.status_code == 201
    api_key = made.json()["key"]
    path_values = {
        "user_id": str(actors[Role.VIEWER].id),
        "key_id": "999999",
        "ref": "DQA",
        "item_id": "999999",
        "report_id": "r-1",
        "job_id": "0000",
        "task_id": "0000",
        "hook_id": "999999",
        "alert_id": "999999",
        "fmt": "json",
        "version_id": "999999",
        "other_id": "999998",
        "search_id": "999999",
    }
    failures = []
    for (method, template), case in sorted(EXPECTED.items()):
        url = template.format(**path_values)
        for caller in CALLERS:
            headers, role, valid = _headers(caller, ctx, api_key)
            if case.role is None:
                expected = case.status
            elif not valid:
                expected = 401
            elif role is not None and role.allows(case.role):
                expected = case.status
            else:
                expected = 403
            body = case.body(ctx) if case.body else None
            resp = client.request(method, url, headers=headers, json=body, params=case.params)
            if resp.status_code != expected:
                failures.append(
                    f"{method} {template} as {caller}: {resp.status_code} != {expected}"
                )
            if expected == 401:
                assert resp.headers.get("www-authenticate") == "Bearer"
    assert not failures, "\n".join(failures)
