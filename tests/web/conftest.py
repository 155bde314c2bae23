"""Page tests run the production app (every middleware) on the real PostgreSQL and Redis,
with the same per-test isolation as the API tests."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    PASSWORD,
    Actor,
    actors,
    app,
    client,
    db_connection,
    redis_prefix,
    session_factory,
    settings,
    submitter,
)

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(web: TestClient, actor: Actor, next_path: str = "/") -> str:
    """Sign in through the form; returns the session's CSRF token for later posts."""
    form = web.get("/login")
    assert form.status_code == 200
    r = web.post(
        "/login",
        data={
            "email": actor.email,
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": next_path,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = web.get(r.headers["location"])
    return csrf_of(home.text)


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811 - the API tests' client fixture
    return client
