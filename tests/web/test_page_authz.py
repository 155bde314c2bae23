"""Every page route x every kind of visitor -> the expected status (the pages' matrix).

Like the API's matrix: a page added without an entry here fails
`test_every_page_has_an_entry`, so nobody ships a page without deciding who may open it.
Posts carry the visitor's valid CSRF token, so what is tested is the role rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cerflow.auth.models import Role
from tests.api.conftest import Actors
from tests.api.test_authz_matrix import app_routes
from tests.web.conftest import sign_in


@dataclass(frozen=True)
class Page:
    role: Role | None  # minimum role; None = anyone
    status: int  # for an allowed visitor
    form: dict[str, str] | None = None


EXPECTED: dict[tuple[str, str], Page] = {
    ("GET", "/login"): Page(None, 200),
    ("POST", "/login"): Page(None, 403),  # no login-form token: refused for everyone
    ("POST", "/logout"): Page(Role.VIEWER, 303),
    ("GET", "/"): Page(Role.VIEWER, 200),
    ("GET", "/search"): Page(Role.VIEWER, 200),
    ("GET", "/search/suggest"): Page(Role.VIEWER, 200),
    ("GET", "/products/{ref}"): Page(Role.VIEWER, 404),
    ("POST", "/products/{ref}/refresh"): Page(Role.ANALYST, 303),
    ("POST", "/products/{ref}/watch"): Page(Role.ANALYST, 303),
    ("GET", "/products/{ref}/review"): Page(Role.VIEWER, 200),
    ("POST", "/products/{ref}/review"): Page(Role.ANALYST, 422),
    ("GET", "/reports"): Page(Role.VIEWER, 200),
    ("POST", "/reports"): Page(Role.ANALYST, 303, {"product_ref": "DQA", "formats": "pdf"}),
    ("GET", "/jobs/{job_id}"): Page(Role.VIEWER, 404),
    ("GET", "/jobs/{job_id}/status"): Page(Role.VIEWER, 404),
    ("GET", "/reports/{report_id}"): Page(Role.VIEWER, 404),
    ("GET", "/reports/{report_id}/files/{fmt}"): Page(Role.VIEWER, 404),
    ("GET", "/alerts"): Page(Role.VIEWER, 200),
    ("POST", "/alerts/{alert_id}/ack"): Page(Role.VIEWER, 404),
    ("GET", "/watching"): Page(Role.VIEWER, 200),
    ("POST", "/watching/{item_id}/unwatch"): Page(Role.ANALYST, 404),
    ("POST", "/watching/webhooks"): Page(Role.ANALYST, 422),
    ("POST", "/watching/webhooks/{hook_id}/enable"): Page(Role.ANALYST, 404),
    ("POST", "/watching/webhooks/{hook_id}/delete"): Page(Role.ANALYST, 404),
    ("GET", "/admin"): Page(Role.ADMIN, 200),
    ("POST", "/admin/users"): Page(Role.ADMIN, 422),
    ("POST", "/admin/users/{user_id}"): Page(Role.ADMIN, 422),
    ("POST", "/admin/api-keys"): Page(Role.ADMIN, 422),
    ("POST", "/admin/api-keys/{key_id}/revoke"): Page(Role.ADMIN, 404),
    ("GET", "/products/{ref}/inputs"): Page(Role.VIEWER, 200),
    ("POST", "/products/{ref}/inputs"): Page(Role.ANALYST, 303),
    ("GET", "/products/{ref}/versions"): Page(Role.VIEWER, 200),
    ("GET", "/products/{ref}/literature"): Page(Role.VIEWER, 200),
    ("POST", "/products/{ref}/literature/decisions"): Page(Role.ANALYST, 422),
    ("POST", "/products/{ref}/literature/suggestions"): Page(Role.ANALYST, 409),
    ("GET", "/products/{ref}/literature/screening.csv"): Page(Role.VIEWER, 404),
    ("GET", "/versions/{version_id}/compare"): Page(Role.VIEWER, 404),
    ("POST", "/versions/{version_id}/approve"): Page(Role.APPROVER, 404),
    ("GET", "/versions/{version_id}/files/{fmt}"): Page(Role.VIEWER, 404),
    ("GET", "/admin/audit"): Page(Role.ADMIN, 200),
}

PATH_VALUES = {
    "ref": "ZZQ",
    "job_id": "0000",
    "report_id": "r-1",
    "fmt": "pdf",
    "alert_id": "999999",
    "user_id": "999999",
    "key_id": "999999",
    "item_id": "999999",
    "hook_id": "999999",
    "version_id": "999999",
}


def test_every_page_has_an_entry(app: FastAPI) -> None:
    routes = app_routes(app, pages=True)
    assert routes, "no page route found: is cerflow.web installed?"
    missing = routes - EXPECTED.keys()
    assert not missing, f"pages without an expected-role entry: {sorted(missing)}"
    stale = EXPECTED.keys() - routes
    assert not stale, f"entries for pages that no longer exist: {sorted(stale)}"


def test_page_authorization_matrix(app: FastAPI, actors: Actors) -> None:
    failures: list[str] = []
    visitors: list[Role | None] = [None, Role.VIEWER, Role.ANALYST, Role.ADMIN]
    # Sign-out last: it ends the session the other rows use.
    rows = sorted(EXPECTED.items(), key=lambda kv: (kv[0] == ("POST", "/logout"), kv[0]))
    for visitor in visitors:
        with TestClient(app, raise_server_exceptions=False) as web:
            token = sign_in(web, actors[visitor]) if visitor else ""
            for (method, template), case in rows:
                url = template.format(**PATH_VALUES)
                if case.role is None:
                    expected = case.status
                elif visitor is None:
                    expected = 303  # to the sign-in page
                elif visitor.allows(case.role):
                    expected = case.status
                else:
                    expected = 403
                data = {"csrf_token": token, **(case.form or {})} if method == "POST" else None
                resp = web.request(method, url, data=data, follow_redirects=False)
                if resp.status_code != expected:
                    failures.append(
                        f"{method} {template} as {visitor}: {resp.status_code} != {expected}"
                    )
                elif expected == 303 and visitor is None:
                    assert resp.headers["location"].startswith("/login"), template
    assert not failures, "\n".join(failures)
