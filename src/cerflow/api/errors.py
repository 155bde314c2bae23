"""Error bodies, the one translation of cerflow's errors to HTTP, and shared responses.

Every error is `{"detail": ...}`. Services raise `CerflowError` subclasses, which carry
their own status; `cerflow_error_handler` turns any of them into a response, so endpoints
do not catch and re-raise per error. Validation errors keep FastAPI's documented shape
(`loc`, `msg`, `type`) but never echo the submitted value, which may be a password.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import structlog
from fastapi import Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cerflow.errors import CerflowError

log = structlog.get_logger(__name__)


class ErrorOut(BaseModel):
    detail: str


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _err("Missing, expired or invalid credentials"),
    403: _err("The caller's role may not use this endpoint"),
    429: _err("Rate limit exceeded; see the Retry-After header"),
}
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: _err("No such item")}
CONFLICT: Responses = {409: _err("Conflicts with an existing item")}
# Every operation that takes a body: one that cannot be parsed (not UTF-8, not JSON at the
# byte level) is refused by FastAPI with 400 before validation, one too big with 413.
BODY_ERRORS: Responses = {
    400: _err("Request body could not be parsed (send UTF-8 encoded JSON)"),
    413: _err("Request body larger than the configured limit"),
}


def _clean_loc(loc: Any) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


def _message(error: dict[str, Any]) -> str:
    """Pydantic's message, with regex patterns replaced by words a user understands."""
    if error.get("type") == "string_pattern_mismatch":
        loc = error.get("loc") or ("",)
        if str(loc[-1]) == "email":
            return "not a valid e-mail address (expected name@domain.tld)"
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        if "\\x00" in pattern:
            return "is blank or contains a character not allowed here (NUL, or '/' in a path)"
    return str(error.get("msg", ""))


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": _clean_loc(e.get("loc", ())), "msg": _message(e), "type": e.get("type")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


# Shared input types: ids fit a PostgreSQL BIGINT, text never carries NUL (PostgreSQL
# refuses it, so letting it through would turn bad input into a 500).
MAX_ID = 2**63 - 1
NO_NUL = r"^[^\x00]*$"
ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="Numeric id")]


async def pool_timeout_handler(_request: Request, _exc: Exception) -> JSONResponse:
    """Every database connection is busy: an overload, so 503 + Retry-After, not a 500."""
    return JSONResponse(
        {"detail": "the service is overloaded; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def cerflow_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Any `CerflowError` -> `{"detail": message}` with the error's own status.

    A 401 carries `WWW-Authenticate: Bearer` (RFC 9110 asks for it, clients rely on it);
    an error that knows when to retry (429, 503) carries `Retry-After`.
    A 5xx is logged: it means cerflow or an upstream source failed, not the caller.
    """
    assert isinstance(exc, CerflowError)
    status = exc.status_code
    if status >= 500:
        log.warning("request_failed", error=type(exc).__name__, status=status, detail=str(exc))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
