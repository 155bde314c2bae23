"""POST /api/v1/reports/{id}/feedback (any reader) and GET /api/v1/feedback (admins)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cerflow.auth.models import Role
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_feedback_stored_and_listed_for_admins(client: TestClient, actors: Actors) -> None:
    viewer = actors[Role.VIEWER]
    sent = client.post(
        "/api/v1/reports/42/feedback",
        json={"rating": 5, "comment": "clear"},
        headers=viewer.headers,
    )
    assert sent.status_code == 201
    listed = client.get(
        "/api/v1/feedback", params={"report_id": "42"}, headers=actors[Role.ADMIN].headers
    ).json()
    assert [(f["report_ref"], f["rating"], f["comment"], f["user_id"]) for f in listed] == [
        ("42", 5, "clear", viewer.id)
    ]
