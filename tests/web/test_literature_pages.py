"""The literature workspace page: protocol, search counts, queue, decisions, suggestions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.config import Settings
from cerflow.literature import screening
from cerflow.literature.models import LiteratureScreeningDecision
from tests.api.conftest import Actors, make_settings
from tests.api.seed import seed_products
from tests.literature.builders import make_search, record_ids
from tests.replay.llm_server import ReplayLLM
from tests.web.conftest import sign_in


@pytest.fixture
def llm() -> Iterator[ReplayLLM]:
    with ReplayLLM() as server:
        server.rewrite = lambda text: json.dumps(
            {"decision": "exclude", "reason_code": "E2", "rationale": "a study in mice"}
            if "mice" in text
            else {"decision": "include", "rationale": "on topic"}
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


def _decisions(factory: sessionmaker[Session]) -> list[tuple[int, str, str, str | None, bool]]:
    with factory() as s:
        rows = s.scalars(
            select(LiteratureScreeningDecision).order_by(LiteratureScreeningDecision.id)
        )
        return [(r.record_id, r.stage, r.decision, r.reason_code, r.llm_suggested) for r in rows]


def test_workspace(web: TestClient, actors: Actors, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        search = make_search(s)
        s.commit()
        sid, ids = search.id, record_ids(s, search.id)
    token = sign_in(web, actors[Role.ANALYST])
    page = web.get("/products/atorvastatin/literature")
    assert page.status_code == 200
    html = page.text
    assert "Version 1, by cli" in html and "E2 Animal or in-vitro study" in html
    assert (
        f"Search {sid}" in html and "Identified 5; duplicates removed 1; unique records 4." in html
    )
    assert html.count('class="card record"') == 4
    # the hostile title is escaped, never markup
    assert "=HYPERLINK(&#34;http://evil&#34;)" in html or "=HYPERLINK(&quot;" in html
    assert 'href="/products/ATORVASTATIN/literature/screening.csv?search=' in html
    seed_products(session_factory)
    product = web.get("/products/DQA")
    assert product.status_code == 200 and 'href="/products/DQA/literature">Literature review' in (
        product.text
    )

    base = {"csrf_token": token, "search_id": str(sid), "view": "queue"}
    # exclusion without a reason: 422, the record's error shown, nothing stored
    bad = web.post(
        "/products/atorvastatin/literature/decisions",
        data={
            **base,
            "record_id": str(ids["pubmed:2"]),
            "stage": "title_abstract",
            "decision": "exclude",
        },
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert "Nothing was saved" in bad.text and "E1, E2" in bad.text
    assert _decisions(session_factory) == []

    # LLM suggestions, then a confirm and an override
    asked = web.post(
        "/products/atorvastatin/literature/suggestions",
        data={"csrf_token": token, "search_id": str(sid)},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    shown = web.get(asked.headers["location"]).text
    assert "4 records sent to the LLM; 4 suggestions to confirm or override" in shown
    assert (
        "LLM suggestion</strong> (replay-model, not a decision): exclude E2: a study in mice"
        in shown
    )
    assert _decisions(session_factory) == []  # suggestions decide nothing
    sug = re.search(
        rf'name="record_id" value="{ids["pubmed:2"]}">.*?name="suggestion_id" value="(\d+)"',
        shown,
        re.S,
    )
    assert sug is not None
    ok = web.post(
        "/products/atorvastatin/literature/decisions",
        data={
            **base,
            "record_id": str(ids["pubmed:2"]),
            "stage": "title_abstract",
            "decision": "exclude",
            "reason_code": "E2",
            "suggestion_id": sug.group(1),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"].endswith(f"#rec-{ids['pubmed:2']}")
    # "include" with a reason left in the select: the reason is ignored
    for stage in ("title_abstract", "full_text"):
        r = web.post(
            "/products/atorvastatin/literature/decisions",
            data={
                **base,
                "record_id": str(ids["pubmed:1"]),
                "stage": stage,
                "decision": "include",
                "reason_code": "E1",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    assert _decisions(session_factory) == [
        (ids["pubmed:2"], "title_abstract", "exclude", "E2", True),
        (ids["pubmed:1"], "title_abstract", "include", None, False),
        (ids["pubmed:1"], "full_text", "include", None, False),
    ]
    with session_factory() as s:
        assert screening.tally(screening.record_states(s, sid))["included"] == 1
    included = web.get(f"/products/atorvastatin/literature?search={sid}&view=included").text
    assert included.count('class="card record"') == 1
    assert "Atorvastatin and myopathy in adults" in included
    log = web.get(f"/products/atorvastatin/literature/screening.csv?search={sid}")
    assert log.status_code == 200 and log.text.count("\n") == 4


def test_viewer_sees_no_decision_form(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        make_search(s)
        s.commit()
    sign_in(web, actors[Role.VIEWER])
    html = web.get("/products/atorvastatin/literature").text
    assert 'class="card record"' in html
    assert "/literature/decisions" not in html and "Ask the LLM" not in html
