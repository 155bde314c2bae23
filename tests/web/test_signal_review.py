"""Signal review: decisions with reasons, newest in force, shown on the product page, and
refuted signals raise no new alert."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.alerts.service import candidate_alerts, without_refuted
from cerflow.auth.models import Role
from cerflow.signal_reviews import service as reviews
from cerflow.store.models import SignalReview
from cerflow.unit_of_work import unit_of_work
from tests.api.conftest import Actors
from tests.api.seed import seed_products
from tests.web.conftest import sign_in


def _count(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as session:
        return session.query(SignalReview).count()


def test_api_records_decisions_and_keeps_the_history(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    analyst = actors[Role.ANALYST]
    url = "/api/v1/products/DQA/signal-reviews"
    bad = client.post(
        url,
        json={"event": "hypoxia", "decision": "refuted", "reason": "no"},
        headers=analyst.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "reason"]
    assert _count(session_factory) == 0  # nothing stored on bad input
    first = client.post(
        url,
        json={"event": "Hypoxia", "decision": "refuted", "reason": "alarm artefact on review"},
        headers=analyst.headers,
    )
    assert first.status_code == 201
    body = first.json()
    assert body["product_ref"] == "DQA" and body["product_kind"] == "device"
    assert body["user_email"] == analyst.email
    second = client.post(
        url,
        json={"event": "hypoxia", "decision": "validated", "reason": "3 new cases with SpO2 < 80%"},
        headers=analyst.headers,
    )
    assert second.status_code == 201
    history = client.get(url, headers=actors[Role.VIEWER].headers).json()
    assert [h["decision"] for h in history] == ["validated", "refuted"]  # newest first
    with unit_of_work(session_factory) as session:
        # The newest decision is "validated": hypoxia is no longer refuted.
        assert reviews.refuted_events(session=session, kind="device", ref="DQA") == set()


def test_refuted_signals_raise_no_alert(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    summary = {
        "signals": [
            {"event": "hypoxia", "flags": ["ebgm"]},
            {"event": "display issue", "flags": ["ror"]},
        ],
        "anomalies": [{"month": "2023-01", "observed": 9, "expected": 2.0}],
    }
    client.post(
        "/api/v1/products/DQA/signal-reviews",
        json={
            "event": "HYPOXIA ",
            "decision": "refuted",
            "reason": "duplicate reports of one case",
        },
        headers=actors[Role.ANALYST].headers,
    )
    with unit_of_work(session_factory) as session:
        refuted = reviews.refuted_events(session=session, kind="device", ref="DQA")
    assert refuted == {"hypoxia"}
    kept = without_refuted(candidate_alerts("device", "DQA", summary), refuted)
    assert [c["dedup_key"] for c in kept] == [
        "signal:device:DQA:display issue",
        "anomaly:device:DQA:2023-01",
    ]


def test_review_page_form_errors_and_decision_on_the_product_page(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    seed_products(session_factory)
    token = sign_in(web, actors[Role.ANALYST])
    page = web.get("/products/DQA")
    assert 'href="/products/DQA/review?event=hypoxia"' in page.text
    assert "not reviewed" in page.text
    bad = web.post(
        "/products/DQA/review",
        data={"csrf_token": token, "event": "hypoxia", "decision": "", "reason": "short"},
    )
    assert bad.status_code == 422
    assert 'id="decision-error"' in bad.text and 'id="reason-error"' in bad.text
    assert ">short</textarea>" in bad.text  # what was typed is kept
    assert _count(session_factory) == 0
    ok = web.post(
        "/products/DQA/review",
        data={
            "csrf_token": token,
            "event": "hypoxia",
            "decision": "needs_review",
            "reason": "ask the manufacturer for the device logs",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/products/DQA#signals-h"
    page = web.get("/products/DQA")
    assert "needs review<span" in page.text
    hist = web.get("/products/DQA/review?event=hypoxia")
    assert "ask the manufacturer for the device logs" in hist.text
    assert actors[Role.ANALYST].email in hist.text
