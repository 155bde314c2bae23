"""The one exception handler: any CerflowError -> {"detail": message} with its status."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cerflow.api.errors import cerflow_error_handler
from cerflow.auth.service import AuthError, TokenReuse
from cerflow.errors import CerflowError, ConflictError, NotFoundError
from cerflow.jobs.service import JobConflictError
from cerflow.sources.openfda import OpenFDAError

RAISED: dict[str, Exception] = {
    "not-found": NotFoundError("no watched product with id 7"),
    "conflict": ConflictError("you already watch DQA (id 3)"),
    "job-conflict": JobConflictError("job 1 is already succeeded; nothing to cancel"),
    "auth": AuthError("invalid or expired access token"),
    "reuse": TokenReuse("refresh token already used or revoked; please sign in again"),
    "upstream": OpenFDAError("busy", url="https://api.fda.gov/x", status=503),
    "custom": CerflowError("q must contain a non-space character", status_code=422),
}


def _client() -> TestClient:
    app = FastAPI()
    app.add_exception_handler(CerflowError, cerflow_error_handler)

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise RAISED[name]

    return TestClient(app, raise_server_exceptions=False)


def test_status_and_body_come_from_the_error() -> None:
    client = _client()
    expected = {
        "not-found": 404,
        "conflict": 409,
        "job-conflict": 409,
        "auth": 401,
        "reuse": 401,
        "upstream": 502,
        "custom": 422,
    }
    for name, status in expected.items():
        response = client.get(f"/raise/{name}")
        assert response.status_code == status, name
        assert response.json() == {"detail": str(RAISED[name])}, name


def test_401_carries_www_authenticate_and_others_do_not() -> None:
    client = _client()
    assert client.get("/raise/auth").headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/raise/reuse").headers["WWW-Authenticate"] == "Bearer"
    assert "WWW-Authenticate" not in client.get("/raise/not-found").headers


def test_the_app_registers_the_handler() -> None:
    """API paths get the JSON problem of `cerflow_error_handler`; pages get an HTML page."""
    from cerflow.app import create_app
    from cerflow.config import Settings

    app = create_app(Settings())

    @app.get("/api/v1/raise-for-test")
    def api_raise() -> None:
        raise NotFoundError("no such thing")

    @app.get("/raise-for-test")
    def page_raise() -> None:
        raise NotFoundError("no such thing")

    with TestClient(app, raise_server_exceptions=False) as c:
        api = c.get("/api/v1/raise-for-test")
        page = c.get("/raise-for-test")
    assert api.status_code == 404
    assert api.json() == {"detail": "no such thing"}
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no such thing" in page.text
