"""Which failures a job retries: `is_transient` recognises the clients' errors without
importing the clients (they are looked up among the loaded modules)."""

from __future__ import annotations

import httpx
import pytest
import redis

from cerflow.jobs.errors import PermanentJobError, TransientJobError, is_transient
from cerflow.sources.openfda import OpenFDAError


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://example.org/x")
    return httpx.HTTPStatusError(
        "x", request=request, response=httpx.Response(code, request=request)
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (TransientJobError("later"), True),
        (PermanentJobError("never"), False),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (_status_error(429), True),
        (_status_error(503), True),
        (_status_error(404), False),
        (redis.ConnectionError("down"), True),
        (redis.TimeoutError("slow"), True),
        (redis.ResponseError("WRONGTYPE"), False),
        (OpenFDAError("busy", url="u", status=500), True),
        (OpenFDAError("limit", url="u", status=429), True),
        (OpenFDAError("no network", url="u", status=None), True),
        (OpenFDAError("bad search", url="u", status=400), False),
        (ConnectionResetError(), True),
        (ValueError("bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
