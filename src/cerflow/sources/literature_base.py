"""What the literature clients share: the normalized record, rate limits, retries, provenance.

Why it looks like this:
- PubMed, Europe PMC and ClinicalTrials.gov each answer in their own shape; every client
  turns its records into one `LiteratureRecord` (PMID, PMCID, DOI, NCT id, title, abstract,
  authors, journal, year) and keeps the source's own record untouched in `payload`.
- Rate limits are requests per second (NCBI: 3 without an API key, 10 with one); the
  limiter spaces requests by 1/rate seconds with an injectable clock and sleep, so tests
  assert on waits without waiting.
- 429 and 5xx and network failures are retried with exponential backoff and jitter
  (tenacity), honouring Retry-After; other 4xx fail at once with the source's words.
- Secrets (`api_key`) are replaced by REDACTED in every URL kept in provenance, logs and
  errors.
- httpx and tenacity load with the first client, not with this module: the API imports
  the records and errors defined here (screening, deduplication) but fetches nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

from cerflow.errors import CerflowError
from cerflow.sources.base import Provenance, sha256_bytes

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState

REDACTED = "REDACTED"
_SECRET_PARAMS = re.compile(r"(api_key=)[^&\s]+")


def redact(url: str) -> str:
    """`api_key=...` -> `api_key=REDACTED` anywhere in a URL or message."""
    return _SECRET_PARAMS.sub(r"\1" + REDACTED, url)


@dataclass(frozen=True, slots=True)
class LiteratureRecord:
    """One bibliographic or trial record, normalized across databases."""

    database: str  # pubmed | europepmc | ctgov
    source_id: str  # the database's own id (PMID, Europe PMC id, NCT id)
    title: str
    pmid: str | None = None
    pmcid: str | None = None
    doi: str | None = None
    nct_id: str | None = None
    abstract: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    year: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(slots=True)
class SearchResult:
    """What one database answered for one query: its total, the records fetched, provenance."""

    database: str
    query: str
    total: int
    records: list[LiteratureRecord]
    provenance: list[Provenance]
    capped: bool = False  # total > the records fetched because of `max_records`
    max_records: int | None = None
    messages: list[str] = field(default_factory=list)  # source warnings (phrase not found...)

    @property
    def note(self) -> str:
        if self.capped:
            return (
                f"{self.database}: {self.total:,} records match; the first {len(self.records):,} "
                f"were fetched (limit CERFLOW_LITERATURE_MAX_RECORDS={self.max_records:,}); "
                "narrow the query or raise the limit"
            )
        if self.total == 0:
            return f"{self.database}: the query matched no record"
        return f"{self.database}: {self.total:,} records"


class LiteratureSourceError(CerflowError, RuntimeError):
    """A literature database refused or failed a request, or answered something unreadable."""

    status_code = 502

    def __init__(self, message: str, *, source: str, url: str, status: int | None = None):
        self.source = source
        self.url = redact(url)
        self.status = status
        head = f"{source} {status}" if status is not None else f"{source} request failed"
        super().__init__(f"{head}: {redact(message)} (URL: {self.url})")


class _Retryable(CerflowError):
    """A response worth trying again (429, 5xx) or a network failure."""

    status_code = 502

    def __init__(self, status: int | None, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class RateLimiter:
    """At most `per_second` requests a second: each request waits until 1/rate after the last."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self.last: float | None = None
        self.waited: list[float] = []

    def acquire(self) -> None:
        now = self.clock()
        if self.last is not None:
            wait = self.last + self.interval - now
            if wait > 0:
                self.waited.append(wait)
                self.sleep(wait)
                now = self.clock()
        self.last = now


class LiteratureClient:
    """What the three literature clients share: one `LiteratureHttp`, closed with them."""

    http: LiteratureHttp

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiteratureHttp:
    """GET with rate limit, retries and provenance; one per client."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        per_second: float,
        timeout: float = 30.0,
        max_retries: int = 5,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,  # None: time.monotonic
        sleep: Callable[[float], None] | None = None,  # None: time.sleep
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        import httpx

        clock = clock or time.monotonic
        sleep = sleep or time.sleep
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.limiter = RateLimiter(per_second, clock=clock, sleep=sleep)
        self.sleep = sleep
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._own = http is None
        self.http = http or httpx.Client(
            timeout=timeout, headers={"User-Agent": "cerflow (literature search)"}
        )
        self.requests = 0

    def close(self) -> None:
        if self._own:
            self.http.close()

    def url(self, path: str, params: Mapping[str, str | int]) -> str:
        query = urlencode({k: str(v) for k, v in params.items()})
        return f"{self.base_url}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def get(
        self, path: str, params: Mapping[str, str | int], *, query: str | None = None
    ) -> tuple[bytes, Provenance]:
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential_jitter,
        )

        url = self.url(path, params)
        wait = wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max)

        def _wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return min(exc.retry_after, self.backoff_max)
            return float(wait(state))

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries),
            wait=_wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    body = self._once(url)
        except _Retryable as exc:
            raise LiteratureSourceError(
                f"{exc.detail} (gave up after {self.max_retries} attempts)",
                source=self.source,
                url=url,
                status=exc.status,
            ) from None
        prov = Provenance(
            source=self.source,
            location=redact(url),
            query=query,
            retrieved_at=dt.datetime.now(dt.UTC),
            sha256=sha256_bytes(body),
        )
        return body, prov

    def _once(self, url: str) -> bytes:
        import httpx

        self.limiter.acquire()
        self.requests += 1
        try:
            resp = self.http.get(url)
        except httpx.HTTPError as exc:
            raise _Retryable(None, f"network error: {type(exc).__name__}", None) from None
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after: float | None = None
            raw = resp.headers.get("Retry-After")
            if raw is not None:
                try:
                    retry_after = max(0.0, float(raw))
                except ValueError:
                    retry_after = None
            raise _Retryable(resp.status_code, _short(resp.text), retry_after)
        if resp.status_code >= 400:
            raise LiteratureSourceError(
                _short(resp.text) or resp.reason_phrase,
                source=self.source,
                url=url,
                status=resp.status_code,
            )
        return resp.content


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def parse_year(value: Any) -> int | None:
    """The first four-digit year in a value ('2001', '2001 Jun', '1990 Spring'), else None."""
    if value is None:
        return None
    match = re.search(r"\b(1[89]\d\d|20\d\d)\b", str(value))
    return int(match.group(1)) if match else None
