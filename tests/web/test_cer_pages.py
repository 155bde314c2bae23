"""The pages for CER inputs, report versions (approve, compare, files) and the audit trail,
and the report form's background / UDI-DI / SRN fields (issue 13), through HTTP.

Oracles: the inputs a form saves are compared with the example file validated by the
schema on its own and with what the API returns; a version's state and audit rows are
read back from the database; a diff's content is the one the API's HTML diff shows.
"""

from __future__ import annotations

import html
import random
import re
import string
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.cer_inputs import service as inputs_service
from cerflow.cer_inputs.schemas import load_inputs
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.unit_of_work import unit_of_work
from cerflow.versions import service as versions_service
from cerflow.versions.models import AuditEvent, ReportVersion
from cerflow.web.inputs_pages import dom_id, flatten
from tests.api.conftest import Actors
from tests.web.conftest import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

EXAMPLE = Path(__file__).parents[2] / "src/cerflow/cer_inputs/examples/cer-inputs-example-LZG.yaml"


def _code() -> str:
    return "Z" + "".join(random.choices(string.ascii_uppercase, k=2))


def _error_of(page: str, name: str) -> str:
    pattern = rf'<p class="field-error" id="{re.escape(dom_id(name))}-error"[^>]*>(.*?)</p>'
    m = re.search(pattern, page)
    assert m, f"no error shown beside {name}"
    return html.unescape(m.group(1))


# --- CER inputs -------------------------------------------------------------------------


def test_inputs_form_saves_every_field_of_the_example(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    example = load_inputs(EXAMPLE)  # the schema's own reading of the example file
    token = sign_in(web, actors[Role.ANALYST])
    empty = web.get("/products/LZG/inputs")
    assert empty.status_code == 200
    assert "Nothing saved yet" in empty.text
    assert 'name="evaluators[0].declaration_of_interest"' in empty.text  # a blank row to add
    form = flatten(example)
    r = web.post("/products/LZG/inputs", data={"csrf_token": token, **form}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/products/LZG/inputs?saved=1"
    with session_factory() as s:
        stored = inputs_service.get(session=s, product_ref="LZG")
    assert stored == example
    api = web.get("/api/v1/products/LZG/cer-inputs", headers=actors[Role.VIEWER].headers)
    assert api.status_code == 200
    assert api.json()["inputs"] == example.model_dump(mode="json")
    assert api.json()["updated_by"] == actors[Role.ANALYST].email
    shown = web.get("/products/LZG/inputs?saved=1")
    assert "The inputs were saved" in shown.text
    assert 'value="Example VIP-2 (dual channel)"' in shown.text
    # the two stored models and one blank row
    assert 'name="models[2].name"' in shown.text and 'name="models[3].name"' not in shown.text


def test_inputs_errors_beside_fields_and_nothing_saved(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    token = sign_in(web, actors[Role.ANALYST])
    r = web.post(
        f"/products/{ref}/inputs",
        data={
            "csrf_token": token,
            "description": "A device.",
            # row 0 left blank: the filled row is shown (and named) as the first
            "evaluators[0].name": "",
            "evaluators[1].name": "Dr A. Example",
            "evaluators[1].qualification": "MD",
            "evaluators[1].cv_reference": "CV-1",
            "models[0].name": "M1",
            "models[0].udi_di": "09506000134353",  # check digit should be 2
            "equivalence.equivalent_device": "Other pump",
            "next_update.interval_months": "24",
            "next_update.device_class": "III",
            "next_update.justification": "Yearly is too often",
            "product": "LZG",
        },
    )
    assert r.status_code == 422
    assert "Nothing was saved" in r.text
    assert _error_of(r.text, "evaluators[0].declaration_of_interest") == "required"
    assert "check digit should be 2, not 3" in _error_of(r.text, "models[0].udi_di")
    assert _error_of(r.text, "equivalence.claimed") == "required"
    assert "at least annually" in _error_of(r.text, "next_update")
    assert f"not '{ref}'" in _error_of(r.text, "product") or "LZG" in _error_of(r.text, "product")
    # what was typed is kept
    assert 'name="evaluators[0].name" value="Dr A. Example"' in r.text
    assert 'name="evaluators[1].name" value=""' in r.text  # one blank row to add another
    assert 'name="evaluators[2].name"' not in r.text
    assert 'name="models[1].name" value=""' in r.text and 'name="approvers[1].name"' not in r.text
    with session_factory() as s:
        assert inputs_service.get_row(session=s, product_ref=ref) is None


def test_viewer_reads_inputs_but_cannot_save(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    with unit_of_work(session_factory) as s:
        inputs_service.put(
            session=s,
            product_ref=ref,
            data={"schema_version": 1, "intended_purpose": "Monitoring oxygen saturation."},
            user_id=actors[Role.ANALYST].id,
        )
    token = sign_in(web, actors[Role.VIEWER])
    page = web.get(f"/products/{ref}/inputs")
    assert page.status_code == 200
    assert "Monitoring oxygen saturation." in page.text
    assert "<fieldset disabled" in page.text and "Save the inputs" not in page.text
    r = web.post(
        f"/products/{ref}/inputs",
        data={"csrf_token": token, "schema_version": "1", "intended_purpose": "changed"},
    )
    assert r.status_code == 403
    with session_factory() as s:
        stored = inputs_service.get(session=s, product_ref=ref)
    assert stored is not None and stored.intended_purpose == "Monitoring oxygen saturation."


# --- report form ------------------------------------------------------------------------


def test_report_form_background_udi_di_and_srn(
    web: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    token = sign_in(web, actors[Role.ANALYST])
    page = web.get("/reports?product=DQA")
    assert 'name="background"' in page.text and 'name="udi_di"' in page.text

    def post(**fields: str) -> Any:
        return web.post(
            "/reports",
            data={"csrf_token": token, "formats": "pdf", **fields},
            follow_redirects=False,
        )

    drug = post(product_ref="metformin", udi_di="04046964812345")
    assert drug.status_code == 422
    assert "is a drug" in _error_of_plain(drug.text, "udi_di")
    bad_srn = post(product_ref="DQA", srn="DE-XX-1")
    assert bad_srn.status_code == 422
    assert "is not a single registration number" in _error_of_plain(bad_srn.text, "srn")
    bad_bg = post(product_ref="DQA", background="faers")
    assert bad_bg.status_code == 422
    assert "'store' or 'openfda'" in _error_of_plain(bad_bg.text, "background")
    assert submitter.submitted == []
    ok = post(
        product_ref="DQA",
        background="store",
        udi_di="04046964812345\n04046964812345, 09506000134352",
        srn="de-mf-000001234",
    )
    assert ok.status_code == 303, ok.text
    (job,) = submitter.submitted
    assert job.payload["udi_di"] == ["04046964812345", "09506000134352"]
    assert job.payload["srn"] == ["DE-MF-000001234"]
    assert job.payload["background"] == "store"


def _error_of_plain(page: str, field: str) -> str:
    m = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert m, f"no error beside {field}"
    return html.unescape(m.group(1))


# --- versions and audit -----------------------------------------------------------------


def _version(
    factory: sessionmaker[Session], ref: str, number: int, signals: list[str], owner: int
) -> tuple[int, str]:
    sha = uuid.uuid4().hex * 2
    with unit_of_work(factory) as s:
        row = versions_service.record_version(
            session=s,
            product_kind="device",
            product_ref=ref,
            number=number,
            report_id=f"job-{uuid.uuid4().hex[:10]}",
            title=f"CER - {ref}",
            facts={
                "volumes": {"total_reports": 10 * number},
                "signals": {"signals": [{"event": e, "a": 3} for e in signals]},
            },
            facts_sha256=sha,
            narrative={"summary": {"title": "1 Summary", "text": f"{10 * number} reports"}},
            actor=versions_service.actor_for_user(session=s, user_id=owner),
        )
        return row.id, sha


def test_versions_page_approve_and_compare(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    analyst = actors[Role.ANALYST]
    v1, _ = _version(session_factory, ref, 1, ["Hypoxia"], analyst.id)
    v2, sha2 = _version(session_factory, ref, 2, ["Hypoxia", "Occlusion"], analyst.id)

    token = sign_in(web, analyst)
    page = web.get(f"/products/{ref}/versions")
    assert page.status_code == 200
    assert "Version 1" in page.text and "Version 2" in page.text and sha2 in page.text
    assert "/approve" not in page.text  # an analyst sees no approve form
    forced = web.post(f"/versions/{v2}/approve", data={"csrf_token": token, "facts_sha256": sha2})
    assert forced.status_code == 403
    assert f'href="/versions/{v2}/compare#compare"' in page.text
    assert f'href="/versions/{v1}/compare' not in page.text  # version 1 has no previous
    diff = web.get(f"/versions/{v2}/compare")
    assert diff.status_code == 200
    assert "Changes from version 1 to version 2" in diff.text
    assert "New: Occlusion" in diff.text
    assert "<h1>Changes" not in diff.text  # the page keeps a single h1

    web.post("/logout", data={"csrf_token": token})
    token = sign_in(web, actors[Role.APPROVER])
    page = web.get(f"/products/{ref}/versions")
    assert f'action="/versions/{v2}/approve"' in page.text
    wrong = web.post(
        f"/versions/{v2}/approve", data={"csrf_token": token, "facts_sha256": "0" * 64}
    )
    assert wrong.status_code == 422
    assert "facts hash mismatch" in _error_of_plain(wrong.text, f"sha-{v2}")
    short = web.post(f"/versions/{v2}/approve", data={"csrf_token": token, "facts_sha256": "ab"})
    assert short.status_code == 422
    assert "64-character" in _error_of_plain(short.text, f"sha-{v2}")
    with session_factory() as s:
        assert s.get(ReportVersion, v2).state == "draft"  # type: ignore[union-attr]
    ok = web.post(
        f"/versions/{v2}/approve",
        data={"csrf_token": token, "facts_sha256": sha2, "note": "read in full"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with session_factory() as s:
        row = s.get(ReportVersion, v2)
        assert row is not None and row.state == "approved"
        assert row.approved_by == actors[Role.APPROVER].email
        assert row.approval_note == "read in full"
        events = list(
            s.scalars(select(AuditEvent).where(AuditEvent.version_id == v2).order_by(AuditEvent.id))
        )
    assert [e.action for e in events] == ["generated", "approved"]
    again = web.post(f"/versions/{v2}/approve", data={"csrf_token": token, "facts_sha256": sha2})
    assert again.status_code in (404, 409, 422)  # no form any more: the service refuses
    assert "already approved" in again.text


def test_viewer_sees_only_own_versions_and_no_approve(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    v1, sha = _version(session_factory, ref, 1, [], actors[Role.ANALYST].id)
    token = sign_in(web, actors[Role.VIEWER])
    page = web.get(f"/products/{ref}/versions")
    assert page.status_code == 200 and "No version yet" in page.text
    assert (
        web.post(
            f"/versions/{v1}/approve", data={"csrf_token": token, "facts_sha256": sha}
        ).status_code
        == 403
    )
    assert web.get(f"/versions/{v1}/compare").status_code == 404


def test_audit_page_filters_and_pages(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    v1, _ = _version(session_factory, ref, 1, [], actors[Role.ANALYST].id)
    with unit_of_work(session_factory) as s:
        row = s.get(ReportVersion, v1)
        assert row is not None
        actor = versions_service.actor_for_user(session=s, user_id=actors[Role.ADMIN].id)
        for _ in range(55):
            versions_service.record_download(
                session=s, report_id=row.report_id, actor=actor, fmt="pdf", via="web"
            )
    sign_in(web, actors[Role.ADMIN])
    first = web.get(f"/admin/audit?product={ref}")
    assert first.status_code == 200
    assert "56 events, page 1 of 2" in first.text
    assert first.text.count("<tr><td>") == 50
    second = web.get(f"/admin/audit?product={ref}&p=2")
    assert second.text.count("<tr><td>") == 6
    assert "generated" in second.text  # the oldest event is last
    gen = web.get(f"/admin/audit?product={ref}&action=generated")
    assert "1 event<" in gen.text or "1 event" in gen.text
    assert gen.text.count("<tr><td>") == 1
    bad = web.get("/admin/audit?action=deleted")
    assert bad.status_code == 422
    assert "choose one of" in _error_of_plain(bad.text, "action")


def test_new_forms_refuse_a_post_without_the_csrf_token(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    ref = _code()
    v1, sha = _version(session_factory, ref, 1, [], actors[Role.ANALYST].id)
    sign_in(web, actors[Role.ADMIN])
    no_token = web.post(f"/products/{ref}/inputs", data={"intended_purpose": "no token"})
    assert no_token.status_code == 403
    assert "did not come from this site" in html.unescape(no_token.text)
    assert web.post(f"/versions/{v1}/approve", data={"facts_sha256": sha}).status_code == 403
    with session_factory() as s:
        assert inputs_service.get_row(session=s, product_ref=ref) is None
        row = s.get(ReportVersion, v1)
        assert row is not None and row.state == "draft"
