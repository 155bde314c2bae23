"""Feedback only on reports the caller can read; anything else is the same 404 as reading it."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.feedback.models import Feedback
from cerflow.jobs.models import Job
from cerflow.reports.models import CerReport
from cerflow.unit_of_work import unit_of_work
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BODY = {"rating": 4, "comment": "useful"}


def make_report(factory: sessionmaker[Session], owner: int) -> str:
    tag = uuid.uuid4().hex[:10]
    with unit_of_work(factory) as s:
        job = Job(id=f"job-{tag}", type="report", state="succeeded", owner_id=owner)
        s.add(job)
        s.flush()
        s.add(
            CerReport(
                id=f"r-{tag}",
                job_id=job.id,
                owner_id=owner,
                product_kind="device",
                product_ref="DQA",
                title="CER",
                files={},
            )
        )
    return f"r-{tag}"


def _count(factory: sessionmaker[Session], report_id: str) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).where(Feedback.report_ref == report_id)) or 0)


def test_feedback_on_own_report_is_stored(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    viewer = actors[Role.VIEWER]
    report = make_report(session_factory, viewer.id)
    resp = client.post(f"/api/v1/reports/{report}/feedback", json=BODY, headers=viewer.headers)
    assert resp.status_code == 201, resp.text
    assert _count(session_factory, report) == 1


def test_feedback_on_someone_elses_or_a_missing_report_is_404_like_reading_it(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    viewer, analyst = actors[Role.VIEWER], actors[Role.ANALYST]
    theirs = make_report(session_factory, analyst.id)
    for report in (theirs, "r-does-not-exist"):
        read = client.get(f"/api/v1/reports/{report}", headers=viewer.headers)
        resp = client.post(f"/api/v1/reports/{report}/feedback", json=BODY, headers=viewer.headers)
        assert read.status_code == resp.status_code == 404, resp.text
        assert resp.json()["detail"] == read.json()["detail"]
        assert _count(session_factory, report) == 0


def test_admin_may_give_feedback_on_any_report(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    report = make_report(session_factory, actors[Role.ANALYST].id)
    admin = actors[Role.ADMIN]
    resp = client.post(f"/api/v1/reports/{report}/feedback", json=BODY, headers=admin.headers)
    assert resp.status_code == 201, resp.text
