"""POST /api/v1/reports with udi_di/srn (issue 12 item 6): passed to the job for a device,
refused with a clear 422 for a drug or a malformed key, and nothing is submitted then."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from tests.api.conftest import Actors


def test_device_request_carries_the_eudamed_keys(
    client: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    resp = client.post(
        "/api/v1/reports",
        json={"product_ref": "LZG", "udi_di": ["00012345678905"], "srn": ["de-mf-000000042"]},
        headers=actors[Role.ANALYST].headers,
    )
    assert resp.status_code == 202, resp.text
    (job,) = submitter.submitted
    assert (job.payload["udi_di"], job.payload["srn"]) == (["00012345678905"], ["DE-MF-000000042"])


def test_drug_request_with_eudamed_keys_is_refused(
    client: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    resp = client.post(
        "/api/v1/reports",
        json={"product_ref": "metformin", "product_kind": "drug", "srn": ["DE-MF-000000042"]},
        headers=actors[Role.ANALYST].headers,
    )
    assert resp.status_code == 422, resp.text
    assert "send them with a device product code" in resp.text
    bad = client.post(
        "/api/v1/reports",
        json={"product_ref": "LZG", "srn": ["DE-42"]},
        headers=actors[Role.ANALYST].headers,
    )
    assert bad.status_code == 422
    assert "not a single registration number" in bad.text
    assert submitter.submitted == []
