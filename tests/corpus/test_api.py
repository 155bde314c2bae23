"""Every operation of the API, driven by its OpenAPI document, fed the corpus.

For each path parameter, query parameter and string/number/date field of each JSON body:
the injection strings, control characters, huge and negative numbers and out-of-range
dates of `strings.py`; for each body also malformed, truncated, UTF-16 and Latin-1 bytes.

- Nothing may answer 5xx.
- Malformed input (control characters, bad numbers and dates, unparseable bodies) must be
  a 4xx whose `detail` says what was wrong, and leave the store checksum unchanged.
- Injection strings are data, not code: they may be accepted (a product note may say
  `<script>`), but an accepted one is echoed back verbatim (never evaluated, `{{7*7}}` does
  not become 49), and a refused one leaves the store unchanged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, MetaData
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from tests.api.conftest import Actors, make_settings
from tests.corpus.checksum import store_checksum
from tests.corpus.strings import CONTROL, HUGE_INT, INJECTIONS, NEGATIVE_INT, OUT_OF_RANGE_DATES

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# Passwords are opaque (hashed, never shown): any character may be part of one.
OPAQUE_FIELDS = {"password"}
# Free text may span lines (text_rules.FREE_TEXT): CR/LF is allowed there, NUL and ESC not.
MULTILINE_FIELDS = {"note", "comment", "reason"} | {
    # CER inputs (issue 12): free text of several paragraphs
    "description",
    "intended_purpose",
    "target_population",
    "complaint_summary",
    "pmcf_summary",
    "usage_data",
    "benefit_risk",
    "conclusions",
}
BAD_BODIES: dict[str, tuple[str, bytes]] = {
    "malformed_json": ("application/json", b'{"a": 1,,}'),
    "truncated_json": ("application/json", b'{"email": "a@example.org", "passw'),
    "latin1_bytes": ("application/json", b'{"x": "caf\xe9 \xff\xfe"}'),
    "not_json": ("application/json", b"<xml>nope</xml>"),
    "wrong_type": ("text/plain", b"hello"),
    "json_array": ("application/json", b"[1, 2, 3]"),
    "deep_nesting": ("application/json", b"[" * 5000 + b"]" * 5000),
}


@pytest.fixture
def corpus_client(
    pg_url: str, redis_prefix: str, session_factory: sessionmaker[Session]
) -> Iterator[TestClient]:
    cfg = make_settings(pg_url, redis_prefix, rate_limit_per_user=10**6, rate_limit_per_ip=10**6)
    app: FastAPI = create_app(
        cfg, session_factory=session_factory, job_submitter=RecordingSubmitter()
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _kind(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = _resolve(spec, schema)
    for option in schema.get("anyOf", []):
        kind = _kind(spec, option)
        if kind != "null":
            return kind
    if schema.get("format") in ("date", "date-time"):
        return "date"
    return str(schema.get("type", "string"))


def _values(kind: str) -> list[tuple[str, Any, bool]]:
    """(label, value, must be refused) for one field kind."""
    if kind == "integer" or kind == "number":
        return [("huge", HUGE_INT, True), ("negative", NEGATIVE_INT, None), ("nan", "NaN", True)]
    if kind == "date":
        return [(f"date {d}", d, True) for d in OUT_OF_RANGE_DATES]
    if kind == "string":
        return [(k, v, False) for k, v in INJECTIONS.items()] + [
            (k, v, True) for k, v in CONTROL.items()
        ]
    return []


def _example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A plausible value for a field, so one bad field is tested at a time."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    for option in schema.get("anyOf", []):
        if _resolve(spec, option).get("type") != "null":
            return _example(spec, option)
    kind = schema.get("type")
    if schema.get("format") == "email":
        return "someone@example.org"
    if schema.get("format") == "date":
        return "2021-01-01"
    if schema.get("format") == "uri":
        return "https://hooks.example.org/x"
    if kind == "integer" or kind == "number":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return "x" * max(1, int(schema.get("minLength", 1)))


def _fill(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_api_refuses_bad_input_without_5xx_or_side_effects(
    corpus_client: TestClient, actors: Actors, db_connection: Connection
) -> None:
    client = corpus_client
    spec = client.get("/openapi.json").json()
    headers = actors[Role.ADMIN].headers
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    meta = MetaData()
    meta.reflect(bind=db_connection)

    def send(label: str, method: str, url: str, must_refuse: bool | None, **kw: Any) -> None:
        before = store_checksum(db_connection, meta)
        response = client.request(method, url, headers={**headers, **kw.pop("headers", {})}, **kw)
        status = response.status_code
        where = f"{method.upper()} {url[:80]!r} [{label}] -> {status}"
        outcomes[f"{status // 100}xx"] += 1
        if status >= 500:
            problems.append(f"{where}: {response.text[:200]}")
            return
        refused = 400 <= status < 500
        if must_refuse and not refused:
            problems.append(f"{where}: accepted malformed input")
        if refused:
            detail = response.json().get("detail") if response.content else None
            if not detail:
                problems.append(f"{where}: no detail")
            if store_checksum(db_connection, meta) != before:
                problems.append(f"{where}: refused but the store changed")
        elif "{{7*7}}" in kw.get("content", "") and response.content:
            sent, echoed = json.loads(kw["content"]), response.json()
            evaluated = isinstance(echoed, dict) and any(
                sent[k] == "{{7*7}}" and "49" in str(echoed.get(k, "")) for k in sent
            )
            if evaluated:
                problems.append(f"{where}: template evaluated")

    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            params = op.get("parameters", [])
            path_params = {p["name"]: "1" for p in params if p["in"] == "path"}
            # path parameters
            for p in (p for p in params if p["in"] == "path"):
                for label, value, refuse in _values(_kind(spec, p.get("schema", {}))) + [
                    (k, v, False) for k, v in INJECTIONS.items()
                ]:
                    url = _fill(path, {**path_params, p["name"]: quote(str(value), safe="")})
                    send(label, method, url, refuse or label in CONTROL)
            # query parameters
            for p in (p for p in params if p["in"] == "query"):
                for label, value, refuse in _values(_kind(spec, p.get("schema", {}))):
                    send(label, method, _fill(path, path_params), refuse, params={p["name"]: value})
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            schema = _resolve(spec, body["schema"])
            props = schema.get("properties", {})
            base = {n: _example(spec, props[n]) for n in schema.get("required", [])}
            url = _fill(path, path_params)
            for field, field_schema in props.items():
                for label, value, must in _values(_kind(spec, field_schema)):
                    refuse = must and not (
                        (field in OPAQUE_FIELDS and label in CONTROL)
                        or (field in MULTILINE_FIELDS and label == "crlf")
                    )
                    content = json.dumps({**base, field: value})
                    send(
                        f"{field}:{label}",
                        method,
                        url,
                        refuse,
                        content=content,
                        headers={"Content-Type": "application/json"},
                    )
            for label, (ctype, raw) in BAD_BODIES.items():
                send(label, method, url, True, content=raw, headers={"Content-Type": ctype})
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])
    assert outcomes["5xx"] == 0 and sum(outcomes.values()) > 400, outcomes
