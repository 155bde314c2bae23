"""GET/PUT /api/v1/products/{ref}/literature/protocol and GET .../literature/searches."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.literature.models import LiteratureProtocol
from tests.api.conftest import Actors

URL = "/api/v1/products/aspirin/literature/protocol"
BODY = {
    "question": {"population": "adults", "intervention": "aspirin", "outcomes": "bleeding"},
    "names": ["aspirin", "acetylsalicylic acid"],
    "databases": ["pubmed", "europepmc"],
    "exclusion": [{"code": "E1", "text": "Not aspirin"}],
}


def _rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(LiteratureProtocol)) or 0)


def test_put_versions_get_and_searches(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    analyst, viewer = actors[Role.ANALYST], actors[Role.VIEWER]
    assert client.get(URL, headers=viewer.headers).status_code == 404
    put = client.put(URL, json=BODY, headers=analyst.headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["version"] == 1 and body["created_by"] == analyst.email
    assert body["protocol"]["queries"]["pubmed"] == (
        '("aspirin"[tiab] OR "acetylsalicylic acid"[tiab])'
    )
    same = client.put(URL, json=BODY, headers=analyst.headers).json()
    assert same["version"] == 1
    edited = {**BODY, "queries": {"pubmed": "aspirin[mh] AND hemorrhage[mh]"}}
    assert client.put(URL, json=edited, headers=analyst.headers).json()["version"] == 2
    assert _rows(session_factory) == 2
    got = client.get(URL + "?version=1", headers=viewer.headers).json()
    assert got["protocol"]["queries"]["pubmed"].startswith('("aspirin"')
    assert client.get(URL, headers=viewer.headers).json()["version"] == 2
    searches = client.get("/api/v1/products/aspirin/literature/searches", headers=viewer.headers)
    assert searches.status_code == 200 and searches.json() == []


def test_bad_protocol_is_422_and_nothing_stored(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    analyst = actors[Role.ANALYST]
    bad = {**BODY, "date_from": "2026-01-01", "date_to": "2020-01-01"}
    res = client.put(URL, json=bad, headers=analyst.headers)
    assert res.status_code == 422
    assert "is after date_to" in res.text
    res = client.put(URL, json={**BODY, "databases": ["scopus"]}, headers=analyst.headers)
    assert res.status_code == 422
    assert _rows(session_factory) == 0
    viewer = actors[Role.VIEWER]
    assert client.put(URL, json=BODY, headers=viewer.headers).status_code == 403


def test_post_search_starts_a_job(
    client: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    analyst = actors[Role.ANALYST]
    searches = "/api/v1/products/aspirin/literature/searches"
    res = client.post(searches, headers=analyst.headers)
    assert res.status_code == 404 and "PUT one first" in res.text
    assert client.put(URL, json=BODY, headers=analyst.headers).status_code == 200
    res = client.post(searches, headers=analyst.headers)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["kind"] == "literature" and body["status_url"] == f"/api/v1/jobs/{body['job_id']}"
    assert [(s.kind, s.payload) for s in submitter.submitted] == [
        ("literature", {"product_kind": "drug", "product_ref": "ASPIRIN"})
    ]
