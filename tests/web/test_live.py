"""The pages' `/live` socket: session cookie, same origin, and only the user's own events."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.jobs import events
from tests.api.conftest import Actors
from tests.web.conftest import sign_in

ORIGIN = {"origin": "http://testserver"}


def _refused(web: TestClient, headers: dict[str, str]) -> str:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        web.websocket_connect("/live", headers=headers) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 1008
    return str(closed.value.reason)


def test_live_socket_wants_a_session(web: TestClient) -> None:
    assert _refused(web, ORIGIN) == "sign in first"


def test_live_socket_refuses_another_site(web: TestClient, actors: Actors) -> None:
    sign_in(web, actors[Role.VIEWER])
    assert _refused(web, {"origin": "https://evil.example"}) == "cross-site socket refused"
    assert _refused(web, {}) == "cross-site socket refused"


def test_live_socket_forwards_own_events_only(
    web: TestClient, actors: Actors, settings: Settings
) -> None:
    me, other = actors[Role.VIEWER], actors[Role.ANALYST]
    sign_in(web, me)
    with web.websocket_connect("/live", headers=ORIGIN) as ws:
        assert ws.receive_json() == {"type": "ready", "user_id": me.id}
        events.publish(settings, {"type": "job.progress", "user_id": other.id, "job_id": "x"})
        events.publish(
            settings, {"type": "job.state", "user_id": me.id, "job_id": "j1", "state": "running"}
        )
        event = ws.receive_json()
    assert event["job_id"] == "j1" and event["state"] == "running"
