"""The WebSocket `/api/v1/ws/alerts` fed bad tokens and bad first messages.

Every one must be closed with 1008 (policy violation) and a reason, never an error that
kills the connection without one (a 1011 is the WebSocket's 500).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.corpus.strings import INJECTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

URL = "/api/v1/ws/alerts"
BAD_FIRST_MESSAGES: dict[str, str | bytes] = {
    "malformed_json": '{"token": ',
    "json_array": "[1, 2]",
    "json_number": "1e999",
    "token_not_string": '{"token": {"$ne": null}}',
    "empty_object": "{}",
    "latin1_bytes": b'{"token": "caf\xe9"}',
    "nul": '{"token": "a\\u0000b"}',
    **{name: json.dumps({"token": value}) for name, value in INJECTIONS.items()},
    "binary_frame": b'{"token": "x"}',
}


def _closed_with_policy(client: TestClient, url: str, first: str | bytes | None) -> str:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        elif first is not None:
            ws.send_text(first)
        ws.receive_json()
    assert closed.value.code == 1008, (url, first, closed.value.code, closed.value.reason)
    assert closed.value.reason
    return str(closed.value.reason)


def test_bad_first_messages_are_refused(client: TestClient) -> None:
    for name, first in BAD_FIRST_MESSAGES.items():
        reason = _closed_with_policy(client, URL, first)
        assert "<script>" not in reason, name


def test_bad_query_tokens_are_refused(client: TestClient) -> None:
    for name, value in {**INJECTIONS, "long": "x" * 10_000, "dots": "a.b.c"}.items():
        assert _closed_with_policy(client, f"{URL}?token={quote(value)}", None), name
