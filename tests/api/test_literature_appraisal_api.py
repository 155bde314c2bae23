"""POST .../literature/records/{id}/appraisals and GET .../literature/appraisals."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.literature.models import LiteratureAppraisal
from tests.api.conftest import Actors
from tests.literature.test_appraisal_prisma import GOOD, _log, _search


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(LiteratureAppraisal)) or 0)


def test_appraise_included_record_and_list(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        _search_row, rows = _search(s)
        _log(s, rows)
        s.commit()
        included, excluded, dup = rows[0].id, rows[1].id, rows[6].id
    base = "/api/v1/products/atorvastatin/literature"
    analyst, approver = actors[Role.ANALYST], actors[Role.APPROVER]
    res = client.post(f"{base}/records/{excluded}/appraisals", json=GOOD, headers=analyst.headers)
    assert res.status_code == 422 and "not included (full-text decision exclude)" in res.text
    res = client.post(f"{base}/records/{dup}/appraisals", json=GOOD, headers=analyst.headers)
    assert res.status_code == 422 and "duplicate of record" in res.text
    bad = {**GOOD, "findings": [{"event": "Myalgia", "events": 7, "patients": 3}]}
    res = client.post(f"{base}/records/{included}/appraisals", json=bad, headers=analyst.headers)
    assert res.status_code == 422 and "n cannot exceed N" in res.text
    other = "/api/v1/products/metformin/literature"
    res = client.post(f"{other}/records/{included}/appraisals", json=GOOD, headers=analyst.headers)
    assert res.status_code == 404
    assert _count(session_factory) == 0
    res = client.post(f"{base}/records/{included}/appraisals", json=GOOD, headers=analyst.headers)
    assert res.status_code == 201, res.text
    assert (res.json()["weight"], res.json()["weight_class"]) == (100, "high")
    assert res.json()["appraised_by"] == analyst.email
    newer = {**GOOD, "contribution": {**GOOD["contribution"], "design": "T2"}}
    res = client.post(f"{base}/records/{included}/appraisals", json=newer, headers=approver.headers)
    assert res.status_code == 201
    listed = client.get(f"{base}/appraisals", headers=actors[Role.VIEWER].headers).json()
    # newest wins: T2 loses the design weight 2 of 16 -> 87.5% -> 88
    assert [(a["record_id"], a["weight"], a["appraised_by"]) for a in listed] == [
        (included, 88, approver.email)
    ]
