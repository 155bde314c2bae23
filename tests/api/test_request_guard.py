"""Control characters in the path or query are refused at the edge with 422.

GET /api/v1/products/%00 answered 500 on PostgreSQL (a NUL cannot be sent as a text
parameter); every other control character is never meaningful in an id or a search term.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cerflow.api.request_guard import NO_CONTROL
from cerflow.auth.models import Role
from tests.api.conftest import Actors

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/products/%00",
        "/api/v1/products/DQA%0D%0A",
        "/api/v1/products/D%1FQA",
        "/api/v1/products/search?q=%00",
        "/api/v1/products/search?q=a%0Ab",
        "/api/v1/products/search?q%00=x",
        "/api/v1/products/search?q=%7F",
        "/api/v1/reports/r%00-1/download/json",
    ],
)
def test_control_characters_are_422(client: TestClient, actors: Actors, url: str) -> None:
    resp = client.get(url, headers=actors[Role.VIEWER].headers)
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["detail"]
    assert "control character" in error["msg"]
    assert error["loc"][0] in ("path", "query")


def test_the_rule_is_in_the_openapi_schema(client: TestClient) -> None:
    params = client.get("/openapi.json").json()["paths"]["/api/v1/products/{ref}"]["get"][
        "parameters"
    ]
    (ref,) = [p for p in params if p["name"] == "ref"]
    schema = ref["schema"]
    assert schema.get("pattern") == NO_CONTROL or {"pattern": NO_CONTROL} in schema["allOf"]


def test_ordinary_requests_pass(client: TestClient, actors: Actors) -> None:
    resp = client.get(
        "/api/v1/products/search?q=caf%C3%A9+pump%2B", headers=actors[Role.VIEWER].headers
    )
    assert resp.status_code == 200, resp.text
