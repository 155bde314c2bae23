"""Refuse control characters in the request path and query string before any endpoint runs.

A NUL in a path parameter (GET /api/v1/products/%00) reached PostgreSQL, which cannot take
it in a text parameter, and answered 500. No cerflow id, code or search term contains C0
control characters or DEL, so they are refused for every route in one place (422, naming
where) instead of by a pattern on each parameter.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The same rule as a JSON Schema pattern, added to every path and query parameter of the
# OpenAPI document so clients (and the schemathesis conformance test) know it.
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def control_character_in(scope: Scope) -> list[str | int] | None:
    """Where a control character is (a validation-error `loc`), else None."""
    path: str = scope.get("path", "")
    if _CONTROL.search(path):
        return ["path"]
    query: bytes = scope.get("query_string", b"")
    if query:
        text = query.decode("latin-1")
        if _CONTROL.search(text):
            return ["query"]
        for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
            if _CONTROL.search(name) or _CONTROL.search(value):
                return ["query", name if not _CONTROL.search(name) else "(name)"]
    return None


def document_rule(app: FastAPI) -> None:
    """Add `NO_CONTROL` to every string path/query parameter of the app's OpenAPI schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                    if param.get("in") in ("path", "query"):
                        _restrict(param.get("schema", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _restrict(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", []):
        _restrict(option)
    if schema.get("type") != "string":
        return
    if "pattern" not in schema:
        schema["pattern"] = NO_CONTROL
    elif schema["pattern"] != NO_CONTROL:
        schema.setdefault("allOf", []).append({"pattern": NO_CONTROL})


class ControlCharacterGuard:
    """Pure ASGI: 422 for an HTTP request whose path or query has a control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = control_character_in(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        # The shape of every other 422 (FastAPI's validation errors), so clients parse one.
        error = {
            "loc": where,
            "msg": "contains a control character (NUL, CR, LF, ...); send printable text only",
            "type": "control_character",
        }
        body = json.dumps({"detail": [error]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
