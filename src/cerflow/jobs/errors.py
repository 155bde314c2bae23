"""Which failures are worth retrying, and error text that never carries a secret.

Transient: the network, 429/5xx answers, a lost database connection, Redis hiccups -
the same call may well succeed later. Everything else (bad parameters, a product with no
data, a bug) fails at once: retrying it would only delay the clear message.
"""

from __future__ import annotations

import random
import re
import sys

from sqlalchemy.exc import DBAPIError, OperationalError

from cerflow.config import Settings
from cerflow.errors import CerflowError


class TransientJobError(CerflowError):
    """Raise from a task step to ask for a retry with backoff."""

    status_code = 503


class ContendedJobError(TransientJobError):
    """Another job made progress on the same thing first (e.g. recorded the version number
    this one drew): retried without using up an attempt, because each such conflict means
    the other job finished, so the retries cannot go on for ever. Before this, two workers
    reporting one product failed reports that had done nothing wrong."""


class PermanentJobError(CerflowError):
    """Raise from a task step to fail the job at once with this message."""

    status_code = 422


class JobAborted(CerflowError):
    """The job was cancelled or another worker took it over; stop quietly."""

    status_code = 409


def is_transient(exc: BaseException) -> bool:
    # httpx, redis-py and the openFDA client are looked up among the loaded modules, not
    # imported: an exception of theirs can only exist once they are loaded, and importing
    # them here would put them (and tenacity) into the API's start for nothing.
    httpx = sys.modules.get("httpx")
    redis = sys.modules.get("redis")
    openfda = sys.modules.get("cerflow.sources.openfda")
    if isinstance(exc, TransientJobError):
        return True
    if isinstance(exc, PermanentJobError | JobAborted):
        return False
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return True
    if httpx is not None and isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        return bool(code == 429 or code >= 500)
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if redis is not None and isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if openfda is not None and isinstance(exc, openfda.OpenFDAError):
        return bool(exc.status is None or exc.status == 429 or exc.status >= 500)
    return False


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter (half fixed, half random) so retries spread out."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(delay / 2 + random.uniform(0, delay / 2))


_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+(:[^/\s@]*)?@", re.I)
_SECRET_PARAM = re.compile(
    r"(?P<k>\b(?:api[_-]?key|key|token|access_token|password|passwd|secret|signature|sig)=)"
    r"[^&\s'\"]+",
    re.I,
)


def redact(text: str, settings: Settings | None = None) -> str:
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + "***@", text)
    text = _SECRET_PARAM.sub(lambda m: m.group("k") + "***", text)
    if settings is not None:
        for secret in (
            settings.openfda_api_key,
            settings.eudamed_api_key,
            settings.smtp_password,
            settings.llm_api_key,
            settings.secret_key,
            settings.broker_url,
        ):
            value = secret.get_secret_value() if secret is not None else ""
            if len(value) >= 4:
                text = text.replace(value, "***")
    return text


def describe(exc: BaseException, settings: Settings | None = None) -> str:
    """A one-line message for the jobs table: the class for context, never a secret."""
    if isinstance(exc, TransientJobError | PermanentJobError):
        msg = str(exc)
    else:
        name = type(exc).__name__
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        msg = f"{name}: {detail}" if detail else name
    return redact(msg, settings)[:2000]
