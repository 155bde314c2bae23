"""Live client for the openFDA adverse-event, recall and enforcement endpoints.

Why it looks like this:
- openFDA pages with `limit` (<= 1,000) and `skip` (<= 25,000), so at most 26,000 records of
  one search are reachable. `iter_records` therefore asks for the first page of a date
  window, and when `meta.results.total` is out of reach it splits the window in two and
  recurses, down to a single day. A day that alone holds more than 26,000 matches raises
  instead of silently truncating: a CER must not under-count.
- openFDA answers a search without results with 404 NOT_FOUND; that is an empty result.
- Rate limits are published (240 requests/minute per IP or key; 1,000/day without a key,
  120,000/day with one); the client keeps below them with a token bucket so that it is
  not throttled, and still honours 429 + Retry-After when it is.
- Clock and sleep are injectable so tests assert on waits without waiting.
- The API key never leaves this module except as the `api_key` query parameter: every URL
  kept in provenance, logs or errors has it replaced by REDACTED.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from cerflow.errors import CerflowError
from cerflow.observability.runtime_metrics import RATE_LIMIT_WAIT, track_fetch
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord, sha256_bytes

if TYPE_CHECKING:
    from cerflow.config import Settings

log = logging.getLogger(__name__)

MAX_LIMIT = 1000  # openFDA: `limit` <= 1000 for search requests
MAX_SKIP = 25000  # openFDA: `skip` <= 25000
COUNT_TERM_CAP = 1000  # `count=` returns at most the top 1,000 terms
DAILY_LIMIT_NO_KEY = 1000
DAILY_LIMIT_WITH_KEY = 120_000
REDACTED = "REDACTED"
EARLIEST = dt.date(1960, 1, 1)  # before the oldest record of any openFDA endpoint

DRUG_EVENT = "/drug/event.json"
DEVICE_EVENT = "/device/event.json"
DEVICE_RECALL = "/device/recall.json"
DRUG_ENFORCEMENT = "/drug/enforcement.json"
DEVICE_ENFORCEMENT = "/device/enforcement.json"

# The date each endpoint is windowed and sorted on.
DATE_FIELDS = {
    DRUG_EVENT: "receivedate",
    DEVICE_EVENT: "date_received",
    DEVICE_RECALL: "event_date_initiated",
    DRUG_ENFORCEMENT: "report_date",
    DEVICE_ENFORCEMENT: "report_date",
}
RECORD_KINDS = {
    DRUG_EVENT: "drug_event",
    DEVICE_EVENT: "device_event",
    DEVICE_RECALL: "recall",
    DRUG_ENFORCEMENT: "enforcement",
    DEVICE_ENFORCEMENT: "enforcement",
}

DRUG_EVENT_NAME_FIELDS = (
    "patient.drug.openfda.generic_name",
    "patient.drug.openfda.brand_name",
    "patient.drug.openfda.substance_name",
    "patient.drug.medicinalproduct",
)
DRUG_ENFORCEMENT_NAME_FIELDS = (
    "openfda.generic_name",
    "openfda.brand_name",
    "openfda.substance_name",
    "product_description",
)
_PRODUCT_CODE = re.compile(r"^[A-Z0-9]{3}$")
# Characters with a meaning in openFDA's (Elasticsearch query-string) syntax.
_SEARCH_SPECIAL = re.compile(r'["\\]')


class OpenFDAError(CerflowError, RuntimeError):
    """openFDA refused or failed a request; the URL has the API key redacted."""

    status_code = 502

    def __init__(
        self, message: str, *, url: str, status: int | None = None, code: str = ""
    ) -> None:
        self.status = status
        self.code = code
        self.url = url
        head = f"openFDA {status}" if status is not None else "openFDA request failed"
        if code:
            head += f" {code}"
        super().__init__(f"{head}: {message} (URL: {url})")
        self.message = message  # callers read openFDA's own words; str() has the context

    def __str__(self) -> str:
        return str(self.args[0])


class _Retryable(CerflowError):
    """A response worth trying again (429, 5xx) or a network failure."""

    status_code = 502

    def __init__(self, status: int | None, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


# --------------------------------------------------------------------------- search builders


def _phrase(value: str) -> str:
    text = _SEARCH_SPECIAL.sub(" ", value).strip()
    text = re.sub(r"\s+", " ", text)
    if not text:
        raise ValueError(f"empty search value {value!r}")
    return f'"{text}"'


def drug_search(name: str, fields: Sequence[str] = DRUG_EVENT_NAME_FIELDS) -> str:
    """Any of the harmonized names or the verbatim product name matches `name` as a phrase.

    openFDA's harmonized `openfda` block is missing on many reports (unmatched verbatim
    names), so `medicinalproduct` is always searched too.
    """
    value = _phrase(name.upper())
    return "(" + " OR ".join(f"{f}:{value}" for f in fields) + ")"


def normalize_product_codes(codes: Sequence[str]) -> list[str]:
    """FDA device product codes: three letters/digits, upper-cased, de-duplicated."""
    out: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        if not _PRODUCT_CODE.match(code):
            raise ValueError(
                f"invalid FDA device product code {raw!r}: expected three letters such as 'DQA'"
            )
        if code not in out:
            out.append(code)
    if not out:
        raise ValueError("at least one device product code is required")
    return out


def device_search(codes: Sequence[str], field: str = "device.device_report_product_code") -> str:
    """`field:CODE` or, for several codes, `field:(A OR B)`."""
    clean = normalize_product_codes(codes)
    if len(clean) == 1:
        return f"{field}:{clean[0]}"
    return f"{field}:(" + " OR ".join(clean) + ")"


def _fmt(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def date_range(field: str, since: dt.date, until: dt.date) -> str:
    """Inclusive range on a date field in openFDA's YYYYMMDD form."""
    if since > until:
        raise ValueError(f"date range starts after it ends: {since} > {until}")
    return f"{field}:[{_fmt(since)} TO {_fmt(until)}]"


def and_search(*parts: str | None) -> str:
    """Join clauses with AND; a clause with a top-level OR must already be parenthesized."""
    return " AND ".join(p for p in parts if p)


def encode_query(params: dict[str, str | int]) -> str:
    """Encode like openFDA's own examples: spaces as `+`, `:()[]` readable."""
    return "&".join(
        f"{quote(k, safe='')}={quote(str(v), safe=':()[],*').replace('%20', '+')}"
        for k, v in params.items()
    )


# --------------------------------------------------------------------------- rate limiting


class TokenBucket:
    """`rate_per_minute` requests a minute with bursts of `capacity`, plus a daily quota.

    The daily quota is counted over 24 hours from the first request (the clock is
    monotonic, so calendar days are not known); the published quota resets daily.
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        capacity: float = 1.0,
        daily_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, capacity)
        self.daily_limit = daily_limit
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.capacity
        self.updated = clock()
        self.day_start: float | None = None
        self.day_count = 0
        self.waited: list[float] = []  # every wait, for tests and stats

    def acquire(self) -> None:
        now = self.clock()
        if self.daily_limit is not None:
            if self.day_start is None or now - self.day_start >= 86_400:
                self.day_start, self.day_count = now, 0
            if self.day_count >= self.daily_limit:
                raise OpenFDAError(
                    f"daily request limit of {self.daily_limit:,} reached; openFDA allows "
                    f"{DAILY_LIMIT_NO_KEY:,}/day without an API key and "
                    f"{DAILY_LIMIT_WITH_KEY:,}/day with one (set CERFLOW_OPENFDA_API_KEY)",
                    url="",
                    code="DAILY_LIMIT",
                )
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            wait = (1.0 - self.tokens) / self.rate
            self.waited.append(wait)
            RATE_LIMIT_WAIT.labels(source="openfda").inc(wait)
            self.sleep(wait)
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens = max(self.tokens, 1.0)
        self.tokens -= 1.0
        self.day_count += 1


# --------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded response with what is needed to reproduce it."""

    total: int
    skip: int
    results: list[dict[str, Any]]
    provenance: Provenance


class TermCounts(list[tuple[str, int]]):
    """`count=` results; `capped` is True when openFDA's 1,000-term cap may hide terms.

    `provenance` is the request that produced them (None only for an empty instance).
    """

    capped: bool = False
    provenance: Provenance | None = None


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    windows_split: int = 0
    page_sha256: list[str] = field(default_factory=list)


class OpenFDAClient:
    """Synchronous openFDA client; use as a context manager to close the connection pool."""

    def __init__(
        self,
        base_url: str = "https://api.fda.gov",
        api_key: SecretStr | str | None = None,
        *,
        requests_per_minute: float = 240,
        max_retries: int = 5,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = MAX_LIMIT,
        max_skip: int = MAX_SKIP,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 300.0,
    ) -> None:
        if isinstance(api_key, str):
            api_key = SecretStr(api_key)
        if api_key is not None and not api_key.get_secret_value():
            api_key = None
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be between 1 and {MAX_LIMIT}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.max_retries = max_retries
        self.page_size = page_size
        self.max_skip = max_skip
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._sleep = sleep
        self._clock = clock
        self.limiter = TokenBucket(
            requests_per_minute,
            daily_limit=DAILY_LIMIT_WITH_KEY if api_key else DAILY_LIMIT_NO_KEY,
            clock=clock,
            sleep=sleep,
        )
        self.stats = ClientStats()
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "cerflow"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> OpenFDAClient:
        return cls(
            settings.openfda_base_url,
            settings.openfda_api_key,
            requests_per_minute=settings.openfda_requests_per_minute,
            max_retries=settings.openfda_max_retries,
            timeout=settings.openfda_timeout,
            **kwargs,
        )

    def __enter__(self) -> OpenFDAClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ low level

    def _url(self, endpoint: str, params: dict[str, str | int], *, redact: bool) -> str:
        full = dict(params)
        if self._api_key is not None:
            full["api_key"] = REDACTED if redact else self._api_key.get_secret_value()
        query = encode_query(full)
        return f"{self.base_url}{endpoint}" + (f"?{query}" if query else "")

    def _scrub(self, text: str) -> str:
        if self._api_key is not None:
            secret = self._api_key.get_secret_value()
            text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
        return text

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_max)
        backoff = wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max)
        return float(backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "openFDA request failed (%s); retry %d of %d",
            exc,
            state.attempt_number,
            self.max_retries,
        )

    def _send_once(self, url: str, safe_url: str) -> tuple[int, bytes, httpx.Headers]:
        self.limiter.acquire()
        self.stats.requests += 1
        try:
            response = self._http.get(url)
        except httpx.TransportError as exc:
            raise _Retryable(None, self._scrub(f"{type(exc).__name__}: {exc}")) from None
        body = response.content
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(
                response.status_code,
                _error_detail(body) or response.reason_phrase,
                _retry_after(response.headers.get("Retry-After")),
            )
        return response.status_code, body, response.headers

    def request(
        self, endpoint: str, params: dict[str, str | int]
    ) -> tuple[dict[str, Any] | None, Provenance]:
        """GET one page; None for openFDA's 404 NOT_FOUND (no matches).

        Raises `OpenFDAError` for every other error answer, after retries where they apply.
        """
        endpoint = normalize_endpoint(endpoint)
        url = self._url(endpoint, params, redact=False)
        safe_url = self._url(endpoint, params, redact=True)
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        with track_fetch("openfda") as fetch:
            try:
                status, body, _ = retrying(self._send_once, url, safe_url)
            except _Retryable as exc:
                raise OpenFDAError(
                    f"{exc.detail} (gave up after {self.max_retries + 1} attempts)",
                    url=safe_url,
                    status=exc.status,
                ) from None
            if status == 404:
                fetch["outcome"] = "not_found"
            elif status != 200:
                fetch["outcome"] = "error"
        provenance = Provenance(
            source=f"openfda:{endpoint}",
            location=safe_url,
            query=str(params.get("search", "")) or None,
            retrieved_at=dt.datetime.now(dt.UTC),
            sha256=sha256_bytes(body),
        )
        payload = _decode(body, safe_url, status)
        if status == 404 and _error_code(payload) == "NOT_FOUND":
            return None, provenance
        if status != 200:
            err = payload.get("error") if isinstance(payload, dict) else None
            err = err if isinstance(err, dict) else {}
            raise OpenFDAError(
                self._scrub(str(err.get("message") or "unexpected response")),
                url=safe_url,
                status=status,
                code=str(err.get("code") or ""),
            )
        return payload, provenance

    def page(
        self,
        endpoint: str,
        search: str | None,
        *,
        skip: int = 0,
        limit: int | None = None,
        sort: str | None = None,
    ) -> Page:
        params: dict[str, str | int] = {}
        if search:
            params["search"] = search
        if sort:
            params["sort"] = sort
        params["limit"] = limit if limit is not None else self.page_size
        if skip:
            params["skip"] = skip
        payload, provenance = self.request(endpoint, params)
        if payload is None:
            return Page(0, skip, [], provenance)
        results = payload.get("results")
        meta = payload.get("meta")
        total = _meta_total(meta)
        if not isinstance(results, list) or total is None:
            raise SourceFormatError(
                "response has no `results` list or no `meta.results.total`",
                location=provenance.location,
                field="results" if not isinstance(results, list) else "meta.results.total",
            )
        self.stats.pages += 1
        self.stats.page_sha256.append(provenance.sha256)
        return Page(total, skip, results, provenance)

    # ------------------------------------------------------------------ high level

    def total(self, endpoint: str, search: str | None) -> int:
        """Number of matching records (one request with limit=1)."""
        return self.page(endpoint, search, limit=1).total

    def count(
        self, endpoint: str, search: str | None, count_field: str, *, limit: int = COUNT_TERM_CAP
    ) -> TermCounts:
        """Top terms of `count_field` with their record counts.

        openFDA returns at most the top 1,000 terms; when the answer reaches the cap,
        `capped` is set and a warning logged, because sums over it under-count.
        """
        params: dict[str, str | int] = {"count": count_field, "limit": min(limit, COUNT_TERM_CAP)}
        if search:
            params["search"] = search
        payload, provenance = self.request(endpoint, params)
        out = TermCounts()
        out.provenance = provenance
        if payload is None:
            return out
        results = payload.get("results")
        if not isinstance(results, list):
            raise SourceFormatError(
                "count response has no `results` list", location=provenance.location
            )
        for i, row in enumerate(results):
            if not isinstance(row, dict) or not isinstance(row.get("count"), int):
                raise SourceFormatError(
                    "count row needs `term` and an integer `count`",
                    location=provenance.location,
                    field=f"results[{i}]",
                )
            out.append((str(row.get("term", "")), int(row["count"])))
        if len(out) >= COUNT_TERM_CAP:
            out.capped = True
            log.warning(
                "openFDA count on %s returned %d terms, its cap: rarer terms are not listed",
                count_field,
                len(out),
            )
        return out

    def iter_records(
        self,
        endpoint: str,
        search: str | None,
        date_field: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Iterator[SourceRecord]:
        """Every record matching `search` (and the date window), however many there are.

        With a `date_field`, windows whose total is beyond `skip`'s reach are halved
        recursively; without one a search beyond reach raises.
        """
        endpoint = normalize_endpoint(endpoint)
        kind = RECORD_KINDS.get(endpoint, endpoint.strip("/").replace(".json", ""))
        if date_field is None:
            yield from self._iter_window(endpoint, kind, search, None, None, None)
            return
        start = since or EARLIEST
        end = until or dt.date.today()
        if start > end:
            raise ValueError(f"--since {start} is after --until {end}")
        yield from self._iter_window(endpoint, kind, search, date_field, start, end)

    def _reachable(self, total: int) -> bool:
        return total <= self.max_skip + self.page_size

    def _iter_window(
        self,
        endpoint: str,
        kind: str,
        search: str | None,
        date_field: str | None,
        since: dt.date | None,
        until: dt.date | None,
    ) -> Iterator[SourceRecord]:
        if date_field is not None and since is not None and until is not None:
            query = and_search(search, date_range(date_field, since, until))
            sort = f"{date_field}:asc"
        else:
            query, sort = search or "", None
        first = self.page(endpoint, query or None, sort=sort)
        if first.total == 0:
            return
        if not self._reachable(first.total):
            if date_field is None or since is None or until is None:
                raise OpenFDAError(
                    f"{first.total:,} records match but only "
                    f"{self.max_skip + self.page_size:,} can be paged; narrow the search "
                    "or give a date window",
                    url=first.provenance.location,
                )
            if since == until:
                raise OpenFDAError(
                    f"{first.total:,} records on the single day {since} exceed what openFDA "
                    f"lets a client page ({self.max_skip + self.page_size:,}); narrow the search",
                    url=first.provenance.location,
                )
            self.stats.windows_split += 1
            mid = since + (until - since) // 2
            log.info("openFDA window %s..%s holds %d records: splitting", since, until, first.total)
            yield from self._iter_window(endpoint, kind, search, date_field, since, mid)
            yield from self._iter_window(
                endpoint, kind, search, date_field, mid + dt.timedelta(days=1), until
            )
            return
        page = first
        skip = 0
        while True:
            for doc in page.results:
                if not isinstance(doc, dict):
                    raise SourceFormatError(
                        "result is not a JSON object", location=page.provenance.location
                    )
                self.stats.records += 1
                yield SourceRecord(kind=kind, payload=doc, provenance=page.provenance)
            skip += len(page.results)
            if not page.results or skip >= page.total:
                return
            page = self.page(endpoint, query or None, skip=skip, sort=sort)

    # ------------------------------------------------------------------ conveniences

    def iter_drug_events(
        self, drug: str, since: dt.date | None = None, until: dt.date | None = None
    ) -> Iterator[SourceRecord]:
        return self.iter_records(
            DRUG_EVENT, drug_search(drug), DATE_FIELDS[DRUG_EVENT], since, until
        )

    def iter_device_events(
        self,
        product_codes: Sequence[str],
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Iterator[SourceRecord]:
        return self.iter_records(
            DEVICE_EVENT, device_search(product_codes), DATE_FIELDS[DEVICE_EVENT], since, until
        )

    def iter_device_recalls(
        self,
        product_codes: Sequence[str],
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Iterator[SourceRecord]:
        return self.iter_records(
            DEVICE_RECALL,
            device_search(product_codes, field="product_code"),
            DATE_FIELDS[DEVICE_RECALL],
            since,
            until,
        )

    def iter_enforcement(
        self,
        kind: Literal["drug", "device"],
        search: str | None = None,
        *,
        drug: str | None = None,
        product_codes: Sequence[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Iterator[SourceRecord]:
        """Enforcement reports: give a raw `search`, a `drug` name, or device `product_codes`."""
        endpoint = DRUG_ENFORCEMENT if kind == "drug" else DEVICE_ENFORCEMENT
        clauses = [search]
        if drug:
            clauses.append(drug_search(drug, DRUG_ENFORCEMENT_NAME_FIELDS))
        if product_codes:
            clauses.append(device_search(product_codes, field="product_code"))
        return self.iter_records(
            endpoint, and_search(*clauses) or None, DATE_FIELDS[endpoint], since, until
        )


# --------------------------------------------------------------------------- helpers


def normalize_endpoint(endpoint: str) -> str:
    """Accept `drug/event`, `/drug/event.json`..., return the `/x/y.json` form."""
    path = "/" + endpoint.strip().strip("/")
    if not path.endswith(".json"):
        path += ".json"
    return path


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _decode(body: bytes, url: str, status: int) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        if status == 200:
            raise SourceFormatError("response is not JSON", location=url) from None
        text = body[:200].decode("utf-8", "replace")
        raise OpenFDAError(f"non-JSON error body: {text!r}", url=url, status=status) from None


def _error_code(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("code") or "")
    return ""


def _error_detail(body: bytes) -> str:
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
    return ""


def _meta_total(meta: Any) -> int | None:
    if not isinstance(meta, dict):
        return None
    results = meta.get("results")
    if not isinstance(results, dict):
        return None
    total = results.get("total")
    return total if isinstance(total, int) else None
