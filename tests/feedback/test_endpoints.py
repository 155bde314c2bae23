"""POST /api/v1/reports/{id}/feedback (any reader) and GET /api/v1/feedback (admins)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from tests.api.conftest import Actors
from tests.feedback.test_service import make_report

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_feedback_stored_and_listed_for_admins(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    viewer = actors[Role.VIEWER]
    report = make_report(session_factory, viewer.id)  # feedback needs a report one can read
    sent = client.post(
        f"/api/v1/reports/{report}/feedback",
        json={"rating": 5, "comment": "clear"},
        headers=viewer.headers,
    )
    assert sent.status_code == 201
    listed = client.get(
        "/api/v1/feedback", params={"report_id": report}, headers=actors[Role.ADMIN].headers
    ).json()
    assert [(f["report_ref"], f["rating"], f["comment"], f["user_id"]) for f in listed] == [
        (report, 5, "clear", viewer.id)
    ]
