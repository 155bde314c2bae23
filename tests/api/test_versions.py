"""Versions and audit over HTTP (real PostgreSQL): review, approve (approver/admin only,
the reviewed facts hash), immutable after, diff as JSON and HTML, downloads audited."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

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

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _facts(total: int, signals: list[str]) -> dict[str, Any]:
    return {
        "volumes": {"total_reports": total},
        "signals": {"signals": [{"event": e, "a": 3} for e in signals]},
        "provenance": [{"snapshot_id": 7, "source": "maude", "sha256": "e" * 64}],
    }


def _version(
    factory: sessionmaker[Session], ref: str, number: int, facts: dict[str, Any], owner: int
) -> tuple[int, str]:
    report_id = f"job-{uuid.uuid4().hex[:10]}"
    sha = uuid.uuid4().hex * 2
    with unit_of_work(factory) as s:
        row = service.record_version(
            session=s,
            product_kind="device",
            product_ref=ref,
            number=number,
            report_id=report_id,
            title=f"CER - {ref}",
            facts=facts,
            facts_sha256=sha,
            narrative={"summary": {"title": "1 Summary", "text": f"{facts['volumes']}"}},
            actor=service.actor_for_user(session=s, user_id=owner),
        )
        return row.id, sha


def test_review_approve_diff_and_audit(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = "Z" + "".join(random.choices(string.ascii_uppercase, k=2))  # a device code
    analyst, approver, admin = actors[Role.ANALYST], actors[Role.APPROVER], actors[Role.ADMIN]
    v1, sha1 = _version(session_factory, ref, 1, _facts(5, ["Hypoxia", "Occlusion"]), analyst.id)
    v2, _ = _version(session_factory, ref, 2, _facts(8, ["Hypoxia", "Air embolism"]), analyst.id)

    got = client.get(f"/api/v1/versions/{v2}", headers=analyst.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["number"], body["state"], body["generated_by"]) == (2, "draft", analyst.email)
    assert body["changes"]["new_signals"] == ["Air embolism"]
    assert body["changes"]["closed_signals"] == ["Occlusion"]

    r = client.post(
        f"/api/v1/versions/{v1}/review", json={"comment": "read"}, headers=analyst.headers
    )
    assert r.status_code == 201 and r.json()["facts_sha256"] == sha1

    approve = {"facts_sha256": sha1, "note": "release"}
    assert (
        client.post(f"/api/v1/versions/{v1}/approve", json=approve, headers=analyst.headers)
    ).status_code == 403
    wrong = client.post(
        f"/api/v1/versions/{v1}/approve", json={"facts_sha256": "0" * 64}, headers=approver.headers
    )
    assert wrong.status_code == 409 and "mismatch" in wrong.json()["detail"]
    ok = client.post(f"/api/v1/versions/{v1}/approve", json=approve, headers=approver.headers)
    assert ok.status_code == 200, ok.text
    assert (ok.json()["state"], ok.json()["approved_by"]) == ("approved", approver.email)
    again = client.post(f"/api/v1/versions/{v1}/approve", json=approve, headers=admin.headers)
    assert again.status_code == 409 and "immutable" in again.json()["detail"]

    diff = client.get(f"/api/v1/versions/{v1}/diff/{v2}", headers=analyst.headers)
    assert diff.status_code == 200
    assert diff.json()["new_signals"] == ["Air embolism"]
    assert diff.json()["history"][0]["approved_by"] == approver.email
    page = client.get(
        f"/api/v1/versions/{v1}/diff/{v2}", params={"format": "html"}, headers=analyst.headers
    )
    assert page.headers["content-type"].startswith("text/html")
    assert "New: Air embolism" in page.text and "Closed: Occlusion" in page.text

    assert client.get("/api/v1/audit", headers=approver.headers).status_code == 403
    audit = client.get("/api/v1/audit", params={"product_ref": ref}, headers=admin.headers)
    assert audit.status_code == 200
    rows = [(a["action"], a["actor"], a["version_id"]) for a in audit.json()]
    assert rows == [
        ("approved", approver.email, v1),
        ("reviewed", analyst.email, v1),
        ("generated", analyst.email, v2),
        ("generated", analyst.email, v1),
    ]
    assert audit.json()[0]["snapshots"][0]["snapshot_id"] == 7


def test_a_viewer_sees_only_own_versions(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    v, _ = _version(session_factory, "ZQQ", 1, _facts(1, []), actors[Role.ANALYST].id)
    assert (
        client.get(f"/api/v1/versions/{v}", headers=actors[Role.VIEWER].headers).status_code == 404
    )
    listed = client.get("/api/v1/versions", headers=actors[Role.VIEWER].headers).json()
    assert v not in [x["id"] for x in listed]


def test_download_is_audited(
    client: TestClient,
    actors: Actors,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    owner = actors[Role.ANALYST]
    tag = uuid.uuid4().hex[:10]
    with unit_of_work(session_factory) as s:
        s.add(Job(id=f"job-{tag}", type="report", state="succeeded", owner_id=owner.id))
        s.flush()
        s.add(
            CerReport(
                id=f"job-{tag}",
                job_id=f"job-{tag}",
                owner_id=owner.id,
                product_kind="device",
                product_ref="DQA",
                title="CER",
                files={"json": "facts.json"},
            )
        )
    folder = reports_dir(settings.data_dir) / f"job-{tag}"
    folder.mkdir(parents=True)
    (folder / "facts.json").write_text("{}", encoding="utf-8")
    got = client.get(f"/api/v1/reports/job-{tag}/download/json", headers=owner.headers)
    assert got.status_code == 200
    audit = client.get(
        "/api/v1/audit", params={"action": "downloaded"}, headers=actors[Role.ADMIN].headers
    ).json()
    mine = [a for a in audit if a["report_id"] == f"job-{tag}"]
    assert [(a["actor"], a["detail"]) for a in mine] == [
        (owner.email, {"format": "json", "via": "api"})
    ]
