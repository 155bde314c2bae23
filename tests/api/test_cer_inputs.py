"""GET/PUT /api/v1/products/{ref}/cer-inputs: validated, nothing stored on error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.cer_inputs.models import CerInputsRow
from cerflow.cer_inputs.service import load_for_report
from cerflow.config import Settings
from tests.api.conftest import Actors

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cer-inputs-example-LZG.yaml"
URL = "/api/v1/products/LZG/cer-inputs"


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for entry in data["change_history"]:  # YAML dates -> JSON strings
        entry["date"] = entry["date"].isoformat()
    return data


def _rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(CerInputsRow)) or 0)


def test_put_then_get_round_trip(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    analyst, viewer = actors[Role.ANALYST], actors[Role.VIEWER]
    assert client.get(URL, headers=viewer.headers).status_code == 404
    put = client.put(URL, json=_example(), headers=analyst.headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["product_kind"], body["product_ref"], body["is_cer"]) == ("device", "LZG", True)
    assert body["missing_for_cer"] == []
    assert body["updated_by"] == analyst.email
    got = client.get("/api/v1/products/lzg/cer-inputs", headers=viewer.headers)  # any case
    assert got.status_code == 200
    assert got.json()["inputs"]["evaluators"][0]["name"] == "Dr. A. Example"
    assert got.json()["inputs"]["change_history"][0]["date"] == "2025-06-30"
    # PUT replaces: one row per product
    smaller = {"schema_version": 1, "intended_purpose": "Infusion."}
    again = client.put(URL, json=smaller, headers=analyst.headers).json()
    assert again["is_cer"] is False
    assert "intended purpose" not in again["missing_for_cer"]
    assert _rows(session_factory) == 1
    with session_factory() as session:
        row = session.scalars(select(CerInputsRow)).one()
        assert row.data == smaller
        assert row.updated_at.tzinfo is not None and row.updated_at <= dt.datetime.now(dt.UTC)


def test_invalid_put_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    analyst = actors[Role.ANALYST]
    bad = _example()
    del bad["evaluators"][0]["declaration_of_interest"]
    response = client.put(URL, json=bad, headers=analyst.headers)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert {
        "loc": ["body", "evaluators", 0, "declaration_of_interest"],
        "msg": "Field required",
    } in [{"loc": e["loc"], "msg": e["msg"]} for e in errors]
    assert _rows(session_factory) == 0
    # valid inputs stored first stay untouched by a later invalid PUT
    assert client.put(URL, json=_example(), headers=analyst.headers).status_code == 200
    with session_factory() as session:
        before = session.scalars(select(CerInputsRow)).one().data
    wrong = {**_example(), "equivalence": {"claimed": True, "equivalent_device": "X"}}
    response = client.put(URL, json=wrong, headers=analyst.headers)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "equivalence"]
    assert "clinical, technical, biological are required" in error["msg"]
    with session_factory() as session:
        assert session.scalars(select(CerInputsRow)).one().data == before


def test_viewer_cannot_put(client: TestClient, actors: Actors) -> None:
    response = client.put(URL, json={"schema_version": 1}, headers=actors[Role.VIEWER].headers)
    assert response.status_code == 403


def test_report_job_renders_with_the_stored_inputs(
    client: TestClient,
    actors: Actors,
    db_connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The report job passes the product's stored inputs to the shared pipeline."""
    from cerflow.reports import tasks

    assert load_for_report(db_connection, kind="device", ref="LZG") is None
    client.put(URL, json=_example(), headers=actors[Role.ANALYST].headers)
    stored = load_for_report(db_connection, kind="device", ref="lzg")
    assert stored is not None and stored.evaluators[0].name == "Dr. A. Example"

    seen: dict[str, Any] = {}

    def fake_generate(engine: Any, **kwargs: Any) -> str:
        seen.update(kwargs)
        return "result"

    monkeypatch.setattr(tasks, "generate_report", fake_generate)
    ctx = SimpleNamespace(
        engine=db_connection,
        params={"product_kind": "device", "product_ref": "LZG"},
        settings=Settings(),
        job_id="job-1",
        fault=lambda _name: None,
        progress=lambda *_a: None,
    )
    assert tasks._generate(ctx, "device", "LZG", ["json"], tmp_path) == "result"  # type: ignore[arg-type]
    assert seen["cer_inputs"] == stored


def test_inputs_for_another_product_are_refused(
    client: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    response = client.put(
        "/api/v1/products/DQA/cer-inputs", json=_example(), headers=actors[Role.ANALYST].headers
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "product"]
    assert error["msg"] == (
        "these inputs are for 'LZG', not 'DQA' (use that product's inputs, or remove the "
        "product field)"
    )
    assert _rows(session_factory) == 0
