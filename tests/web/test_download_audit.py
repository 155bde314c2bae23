"""A report file opened from the web pages is written to the audit trail (issue 12)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.jobs.models import Job
from cerflow.reports.files import reports_dir
from cerflow.reports.models import CerReport
from cerflow.unit_of_work import unit_of_work
from cerflow.versions import service
from tests.api.conftest import Actors
from tests.web.conftest import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_web_download_is_audited(
    web: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    owner = actors[Role.ANALYST]
    rid = f"job-{uuid.uuid4().hex[:10]}"
    with unit_of_work(session_factory) as s:
        s.add(Job(id=rid, type="report", state="succeeded", owner_id=owner.id))
        s.flush()
        s.add(
            CerReport(
                id=rid,
                job_id=rid,
                owner_id=owner.id,
                product_kind="device",
                product_ref="DQA",
                title="CER",
                files={"json": "facts.json"},
            )
        )
    folder = reports_dir(settings.data_dir) / rid
    folder.mkdir(parents=True)
    (folder / "facts.json").write_text("{}", encoding="utf-8")
    sign_in(web, owner)
    assert web.get(f"/reports/{rid}/files/json?download=true").status_code == 200
    with session_factory() as s:
        rows = [e for e in service.audit_list(session=s, action="downloaded") if e.report_id == rid]
        assert [(e.actor, e.detail) for e in rows] == [
            (owner.email, {"format": "json", "via": "web"})
        ]
