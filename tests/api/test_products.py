"""Search, detail (against the hand-counted seed), caching, refresh, watch list, feedback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from scipy.stats import chi2_contingency
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.observability.metrics import sample_value
from tests.api.conftest import Actors
from tests.api.seed import add_snapshot, seed_products
from tests.feedback.test_service import make_report

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> int:
    return seed_products(session_factory)


def test_search_by_code_and_brand(client: TestClient, actors: Actors, seeded: int) -> None:
    h = actors[Role.VIEWER].headers
    hits = client.get("/api/v1/products/search", params={"q": "dqa"}, headers=h).json()
    assert hits[0] == {
        "ref": "DQA",
        "kind": "device",
        "name": "OxiPulse",
        "report_count": 4,
        "recall_count": 1,
        "device_count": 1,
        "sources": ["devices", "maude", "recalls"],
    }
    by_brand = client.get("/api/v1/products/search", params={"q": "oxip"}, headers=h).json()
    assert [x["ref"] for x in by_brand] == ["DQA"]
    drug = client.get("/api/v1/products/search", params={"q": "adalimumab"}, headers=h).json()
    assert [(x["ref"], x["kind"], x["report_count"]) for x in drug] == [("ADALIMUMAB", "drug", 1)]
    assert client.get("/api/v1/products/search", params={"q": "   "}, headers=h).status_code == 422


def test_detail_figures(client: TestClient, actors: Actors, seeded: int) -> None:
    resp = client.get("/api/v1/products/dqa", headers=actors[Role.VIEWER].headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["ref"] == "DQA" and body["kind"] == "device"
    assert body["data_version"] == str(seeded)
    assert body["counts"] == {
        "reports": 4,
        "serious": 2,
        "deaths": 1,
        "by_source": {"maude": 4},
        "by_event_type": {"death": 1, "injury": 1, "malfunction": 1},
        "year_only_dates": 1,
        "undated": 0,
    }
    assert body["monthly"] == [
        {"month": "2023-01", "count": 2},
        {"month": "2023-02", "count": 0},
        {"month": "2023-03", "count": 1},
    ]
    assert body["top_events"] == [
        {"term": "hypoxia", "count": 3},
        {"term": "display issue", "count": 2},
        {"term": "device alarm failure", "count": 1},
    ]
    hyp = body["signals"][0]
    # hypoxia: a=3, b=1, c=1, d=5 among the 10 device reports.
    assert hyp["prr"] == pytest.approx(4.5)
    assert hyp["chi2"] == pytest.approx(chi2_contingency([[3, 1], [1, 5]], correction=True)[0])
    assert hyp["signal"] is False  # chi2 < 4
    assert [r["recall_number"] for r in body["recalls"]] == ["Z-0001-2023"]
    ident = body["identification"]
    assert ident["names"] == ["OxiPulse"] and ident["manufacturers"] == ["Acme Medical"]
    assert [d["udi_di"] for d in ident["devices"]] == ["0123456789"]
    assert "not incidence" in body["caveat"]


def test_detail_is_cached_per_data_version(
    client: TestClient, actors: Actors, seeded: int, session_factory: sessionmaker[Session]
) -> None:
    h = actors[Role.VIEWER].headers
    labels = {"namespace": "product_detail", "result": "hit"}
    hits_before = sample_value("cerflow_cache_requests_total", labels)
    first = client.get("/api/v1/products/DQA", headers=h)
    second = client.get("/api/v1/products/%20dqa", headers=h)  # same normalized query
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.json() == second.json()
    assert sample_value("cerflow_cache_requests_total", labels) == hits_before + 1
    add_snapshot(session_factory)  # a new import changes the data version
    third = client.get("/api/v1/products/DQA", headers=h)
    assert third.headers["x-cache"] == "miss"
    assert third.json()["data_version"] == str(seeded + 1)


def test_unknown_product_is_404(client: TestClient, actors: Actors) -> None:
    resp = client.get("/api/v1/products/ZZZ", headers=actors[Role.VIEWER].headers)
    assert resp.status_code == 404
    assert "ZZZ" in resp.json()["detail"]


def test_refresh_submits_an_ingest_job_after_commit(
    client: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    analyst = actors[Role.ANALYST]
    resp = client.post("/api/v1/products/dqa/refresh", headers=analyst.headers)
    assert resp.status_code == 202
    job = resp.json()
    assert job["status_url"] == f"/api/v1/jobs/{job['job_id']}"
    assert [(s.job_id, s.kind, s.payload, s.requested_by) for s in submitter.submitted] == [
        (job["job_id"], "ingest", {"product_kind": "device", "product_ref": "DQA"}, analyst.id)
    ]


def test_watched_crud_is_per_user(client: TestClient, actors: Actors) -> None:
    a, b = actors[Role.ANALYST].headers, actors[Role.ADMIN].headers
    made = client.post("/api/v1/watched", json={"product_ref": "dqa", "note": "ox"}, headers=a)
    assert made.status_code == 201
    item = made.json()
    assert (item["product_ref"], item["kind"], item["note"]) == ("DQA", "device", "ox")
    dup = client.post("/api/v1/watched", json={"product_ref": "DQA"}, headers=a)
    assert dup.status_code == 409
    assert client.get(f"/api/v1/watched/{item['id']}", headers=b).status_code == 404
    assert client.get("/api/v1/watched", headers=b).json() == []
    patched = client.patch(f"/api/v1/watched/{item['id']}", json={"note": None}, headers=a)
    assert patched.status_code == 200 and patched.json()["note"] is None
    assert client.delete(f"/api/v1/watched/{item['id']}", headers=a).status_code == 204
    assert client.get("/api/v1/watched", headers=a).json() == []


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
