"""Screening over HTTP: records with their state, decisions, LLM suggestions, the CSV log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.literature.models import LiteratureScreeningDecision
from tests.api.conftest import Actors, make_settings
from tests.literature.builders import make_search, record_ids
from tests.replay.llm_server import ReplayLLM


@pytest.fixture
def llm() -> Iterator[ReplayLLM]:
    with ReplayLLM() as server:
        server.rewrite = lambda text: json.dumps(
            {"decision": "exclude", "reason_code": "E2", "rationale": "animal study"}
            if "mice" in text
            else {"decision": "include", "rationale": "adults on atorvastatin"}
        )
        yield server


@pytest.fixture
def settings(pg_url: str, redis_prefix: str, llm: ReplayLLM) -> Settings:
    return make_settings(
        pg_url,
        redis_prefix,
        llm_base_url=llm.url,
        llm_model="replay-model",
        literature_llm_suggestions=True,
    )


def _search(factory: sessionmaker[Session]) -> tuple[int, dict[str, int]]:
    with factory() as s:
        search = make_search(s)
        s.commit()
        return search.id, record_ids(s, search.id)


def _decisions(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(LiteratureScreeningDecision)) or 0)


def test_screening_over_http(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session], llm: ReplayLLM
) -> None:
    sid, ids = _search(session_factory)
    base = f"/api/v1/products/atorvastatin/literature/searches/{sid}"
    analyst, viewer, approver = actors[Role.ANALYST], actors[Role.VIEWER], actors[Role.APPROVER]
    got = client.get(base + "/records", headers=viewer.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["protocol_version"] == 1
    assert body["exclusion_reasons"] == {"E1": "Not the product", "E2": "Animal or in-vitro study"}
    assert body["counts"]["to_screen"] == 4 and len(body["records"]) == 4

    # bad decisions: 422 naming the rule, nothing stored
    bad = client.post(
        base + "/decisions",
        json={"record_id": ids["pubmed:2"], "stage": "title_abstract", "decision": "exclude"},
        headers=analyst.headers,
    )
    assert bad.status_code == 422 and "E1, E2" in bad.text
    early = client.post(
        base + "/decisions",
        json={"record_id": ids["pubmed:1"], "stage": "full_text", "decision": "include"},
        headers=analyst.headers,
    )
    assert early.status_code == 422 and "title/abstract inclusion first" in early.text
    assert _decisions(session_factory) == 0
    # the wrong product's URL does not reach the search
    other = client.get(
        f"/api/v1/products/aspirin/literature/searches/{sid}/records", headers=viewer.headers
    )
    assert other.status_code == 404

    # LLM suggestions: stored apart, nothing decided
    sug = client.post(base + "/suggestions", json={"limit": 2}, headers=analyst.headers)
    assert sug.status_code == 200, sug.text
    assert sug.json()["asked"] == 2 and sug.json()["valid"] == 2
    assert sug.json()["cost_usd"] > 0 and _decisions(session_factory) == 0
    records = {
        r["id"]: r for r in client.get(base + "/records", headers=viewer.headers).json()["records"]
    }
    suggestion = records[ids["pubmed:2"]]["suggestion"]
    assert suggestion["decision"] == "exclude" and suggestion["reason_code"] == "E2"
    assert records[ids["pubmed:2"]]["state"] == "to_screen"

    # an approver confirms the suggestion; then full text by an analyst
    ok = client.post(
        base + "/decisions",
        json={
            "record_id": ids["pubmed:2"],
            "stage": "title_abstract",
            "decision": "exclude",
            "reason_code": "E2",
            "suggestion_id": suggestion["id"],
        },
        headers=approver.headers,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["llm_suggested"] is True and ok.json()["decided_by"] == approver.email
    for stage in ("title_abstract", "full_text"):
        res = client.post(
            base + "/decisions",
            json={"record_id": ids["pubmed:1"], "stage": stage, "decision": "include"},
            headers=analyst.headers,
        )
        assert res.status_code == 201, res.text
    included = client.get(base + "/records?state=included", headers=viewer.headers).json()
    assert [r["id"] for r in included["records"]] == [ids["pubmed:1"]]
    assert included["counts"]["included"] == 1
    assert included["counts"]["excluded_by_reason"]["title_abstract"] == {"E2": 1}

    # viewers read only
    denied = client.post(
        base + "/decisions",
        json={"record_id": ids["pubmed:3"], "stage": "title_abstract", "decision": "include"},
        headers=viewer.headers,
    )
    assert denied.status_code == 403

    log = client.get(base + "/screening.csv", headers=viewer.headers)
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/csv")
    assert f'filename="screening-ATORVASTATIN-{sid}.csv"' in log.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(log.text)))
    assert [(r["stage"], r["decision"], r["decided_by"], r["llm_suggested"]) for r in rows] == [
        ("title_abstract", "exclude", approver.email, "true"),
        ("title_abstract", "include", analyst.email, "false"),
        ("full_text", "include", analyst.email, "false"),
    ]
    assert rows[0]["reason_text"] == "Animal or in-vitro study"
