"""Creating webhooks over the API: internal targets get 422 with a reason; public ones 201."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cerflow.auth.models import Role
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/",
        "http://localhost:6379/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "https://10.0.0.1/x",
        "https://user:secret@hooks.example.org/",
    ],
)
def test_internal_or_credentialed_targets_are_422(
    client: TestClient, actors: Actors, url: str
) -> None:
    resp = client.post("/api/v1/webhooks", json={"url": url}, headers=actors[Role.ANALYST].headers)
    assert resp.status_code == 422, resp.text
    detail = str(resp.json())
    assert "webhook" in detail.lower()
    assert "secret" not in detail


def test_public_target_is_created(client: TestClient, actors: Actors) -> None:
    resp = client.post(
        "/api/v1/webhooks",
        json={"url": "https://93.184.215.14/hook"},
        headers=actors[Role.ANALYST].headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["secret"].startswith("whsec_")
