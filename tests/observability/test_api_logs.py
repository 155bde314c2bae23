"""Every kind of secret is redacted in the API's log output (the real app, its real
handler on stderr), every line is JSON with the request id, and httpx at INFO is silent."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import structlog
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.api.deps import get_principal
from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.jobs.interface import RecordingSubmitter
from tests.api.conftest import Actors
from tests.observability.secrets_table import CASES

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _lines(err: str) -> list[dict[str, Any]]:
    out = []
    for line in err.splitlines():
        if line.strip():
            out.append(json.loads(line))  # every line is one JSON object
    return out


def _add_noisy_route(app: FastAPI) -> None:
    """A route that logs each secret through structlog and stdlib, then fails with them."""

    @app.get("/test-noisy-logs", dependencies=[Depends(get_principal)])
    def noisy() -> dict[str, str]:
        slog = structlog.get_logger("cerflow.test")
        std = logging.getLogger("some.library")
        for kind, text, _secret in CASES:
            slog.warning(text, kind=kind, detail=text)
            std.warning("library says: %s", text)
        raise RuntimeError("boom: " + " | ".join(text for _k, text, _s in CASES))


def _make_app(
    settings: Settings, session_factory: sessionmaker[Session], submitter: RecordingSubmitter
) -> FastAPI:
    """Made inside the test, so the app's handler writes to the stderr capsys reads."""
    return create_app(settings, session_factory=session_factory, job_submitter=submitter)


def test_api_log_lines_are_json_and_carry_no_secret(
    settings: Settings,
    session_factory: sessionmaker[Session],
    submitter: RecordingSubmitter,
    actors: Actors,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = _make_app(settings, session_factory, submitter)
    _add_noisy_route(app)
    actor = actors[Role.VIEWER]
    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        resp = client.get(
            "/test-noisy-logs?api_key=query-key-000111",
            headers={**actor.headers, "X-Request-ID": "req-obs-1"},
        )
    assert resp.status_code == 500
    err = capsys.readouterr().err
    lines = _lines(err)
    assert lines, "the API logged nothing"
    for _kind, _text, secret in CASES:
        assert secret not in err, _kind
    assert "query-key-000111" not in err
    token = actor.headers["Authorization"].split()[-1]
    assert token not in err
    # Every line of the request carries its id; after authentication, the user id.
    ours = [ln for ln in lines if ln.get("request_id") == "req-obs-1"]
    assert len(ours) >= 2 * len(CASES)
    assert all(ln.get("process") == "api" for ln in lines)
    assert any(ln.get("user_id") is not None for ln in ours)
    assert any("exception" in ln and "[redacted]" in ln["exception"] for ln in ours)


def test_httpx_request_at_info_is_not_logged(
    settings: Settings,
    session_factory: sessionmaker[Session],
    submitter: RecordingSubmitter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = _make_app(settings, session_factory, submitter)
    with TestClient(app, raise_server_exceptions=False):
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        capsys.readouterr()
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
        with httpx.Client(transport=transport) as http:
            http.get("https://api.fda.gov/drug/event.json?api_key=httpx-key-424242")
        err = capsys.readouterr().err
    assert "httpx-key-424242" not in err
    assert "HTTP Request" not in err
