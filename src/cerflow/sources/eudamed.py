"""EUDAMED device identification: the public website API and the official data-lake API.

Two access paths to the same database, with opposite failure modes:

* **Public website API** (`https://ec.europa.eu/tools/eudamed/api`, the JSON API behind the
  EUDAMED public site). Spring paging (`page` is 0-based, `pageSize` at most 300; responses
  carry `content[]`, `totalElements`, `totalPages`, `number`, `last`). It **silently ignores
  unknown or mistyped filters** and returns an unfiltered, plausible-looking page. So every
  returned record is checked against the query here: non-matching records are dropped and
  counted, and a page of records of which none matches fails loudly instead of being
  ingested as if it answered the question. Filters known to work (measured by
  AG-Kollotzek/eudamed-api-field-guide, docs/filter-matrix.md): `primaryDi`, `basicUdi`,
  `srn`, `tradeName` (substring).
* **Data-lake API** (DG SANTE data lake, `.../eudamed/udi` and `.../eudamed/actors`).
  Assumed shape (from the field guide's docs/official-api.md, measured 2026-08): mandatory
  `format=json` and `api-version=v1.0`; upper-case filters `PRIMARY_DI`, `BASIC_UDI`,
  `MF_SRN`, `TRADE_NAME` (exact match); unknown parameters are rejected with HTTP 400
  (`{"error": {"code", "message", "status"}}`); response `{"value": [...], "nextLink": url}`
  with an opaque `$after` cursor, 1000 records a page. It is served without a key today;
  a key, when configured, is sent as `Ocp-Apim-Subscription-Key` (the header of the Azure
  API Management gateway behind the DG SANTE developer portal) and never appears in a log
  line or an error message.

Both clients retry 429 (honouring `Retry-After`), 5xx and network errors with exponential
backoff (tenacity), keep a client-side request rate (EUDAMED throttles and blocks
anonymous default user agents), and attach a `Provenance` per page (URL, query, time,
sha256 of the exact bytes received).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import structlog
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from cerflow import __version__
from cerflow.errors import CerflowError
from cerflow.observability.runtime_metrics import RATE_LIMIT_WAIT, track_fetch
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord, sha256_bytes

log = structlog.get_logger(__name__)

PUBLIC_SOURCE = "eudamed"
DATALAKE_SOURCE = "eudamed_datalake"
MAX_PAGE_SIZE = 300  # the public API's maximum `pageSize`
DATALAKE_API_VERSION = "v1.0"
DATALAKE_KEY_HEADER = "Ocp-Apim-Subscription-Key"
USER_AGENT = f"cerflow/{__version__} (EUDAMED device identification)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class EudamedError(CerflowError, RuntimeError):
    """EUDAMED could not answer the question asked (HTTP failure, ignored filter, bad cursor)."""

    status_code = 502


class _RetryableHTTPError(CerflowError):
    """Internal: a response worth retrying (429/5xx); carries the wait the server asked for."""

    status_code = 502

    def __init__(self, status: int, retry_after: float | None, url: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.url = url


@dataclass(slots=True)
class SearchStats:
    """What one search did, so the CLI summary and the snapshot can state it."""

    pages: int = 0
    received: int = 0
    matched: int = 0
    dropped_mismatch: int = 0
    total_elements: int | None = None
    page_hashes: list[str] = field(default_factory=list)


def _parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _RateLimiter:
    """Minimum interval between requests, shared by threads using one client."""

    def __init__(
        self,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be > 0")
        self.interval = 1.0 / requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                RATE_LIMIT_WAIT.labels(source="eudamed").inc(self._next - now)
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class _Http:
    """GET JSON with retries, backoff, rate limit and redaction; shared by both clients."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        transport: httpx.BaseTransport | None,
        requests_per_second: float,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        headers: Mapping[str, str],
        secrets: tuple[str, ...] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
            follow_redirects=False,
        )
        self._limiter = _RateLimiter(requests_per_second, sleep=sleep)
        self._max_attempts = max(1, max_retries + 1)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableHTTPError) and exc.retry_after is not None:
            return min(float(exc.retry_after), self._backoff_max)
        return float(min(self._backoff_base * (2 ** (state.attempt_number - 1)), self._backoff_max))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "eudamed.retry",
            attempt=state.attempt_number,
            reason=self.redact(str(exc) or type(exc).__name__),
            wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
        )

    def _once(self, url: str, params: Mapping[str, str] | None) -> httpx.Response:
        self._limiter.wait()
        response = self._client.get(url, params=params)
        if response.status_code in RETRY_STATUSES:
            raise _RetryableHTTPError(
                response.status_code,
                _parse_retry_after(response.headers.get("Retry-After")),
                str(response.url),
            )
        return response

    def get_json(
        self, url: str, params: Mapping[str, str] | None = None
    ) -> tuple[Any, Provenance, httpx.Response]:
        """One GET; returns (parsed JSON, provenance of those exact bytes, response)."""
        shown = self.redact(url + ("?" + urlencode(params) if params else ""))
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type((_RetryableHTTPError, httpx.TransportError)),
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        with track_fetch("eudamed") as fetch:
            try:
                response: httpx.Response = retrying(self._once, url, params)
            except _RetryableHTTPError as exc:
                raise EudamedError(
                    f"GET {shown} failed after {self._max_attempts} attempts: HTTP {exc.status}"
                    + (" (rate limited; lower requests_per_second)" if exc.status == 429 else "")
                ) from None
            except httpx.TransportError as exc:
                raise EudamedError(
                    f"GET {shown} failed after {self._max_attempts} attempts: "
                    f"{type(exc).__name__}: {self.redact(str(exc))}"
                ) from None
            if response.status_code >= 400:
                fetch["outcome"] = "not_found" if response.status_code == 404 else "error"
                raise EudamedError(
                    f"GET {shown} -> HTTP {response.status_code}: "
                    f"{self.redact(_error_detail(response))}"
                )
        body = response.content
        final_url = self.redact(str(response.url))
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourceFormatError(
                f"response is not JSON ({exc}); content-type "
                f"{response.headers.get('content-type', '?')!r}",
                location=final_url,
            ) from None
        split = urlsplit(final_url)
        provenance = Provenance(
            source="",  # filled by the caller, which knows the endpoint name
            location=final_url,
            query=split.query or None,
            retrieved_at=dt.datetime.now(dt.UTC),
            sha256=sha256_bytes(body),
        )
        return data, provenance, response


def _error_detail(response: httpx.Response) -> str:
    """The server's own words, short: data-lake `{"error": {...}}`, APIM `message`, or text."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("message", "detail", "error"):
            if data.get(key):
                return str(data[key])[:200]
    return json.dumps(data)[:200]


def _with_source(provenance: Provenance, source: str) -> Provenance:
    return Provenance(
        source=source,
        location=provenance.location,
        query=provenance.query,
        retrieved_at=provenance.retrieved_at,
        sha256=provenance.sha256,
    )


def _fold(text: str | None) -> str:
    """Case- and accent-insensitive comparison key (EUDAMED trade names are multilingual)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def _same_id(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """A device search, in the project's words; each client maps it to its own parameters."""

    udi_di: str | None = None
    basic_udi_di: str | None = None
    trade_name: str | None = None
    srn: str | None = None

    def __post_init__(self) -> None:
        for name in ("udi_di", "basic_udi_di", "trade_name", "srn"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ValueError(f"{name} must not be empty")
            if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
                # No identifier or trade name has one; a NUL or CR/LF would reach the URL.
                raise ValueError(f"{name} contains a control character (NUL, CR, LF, ESC...)")
        if not any((self.udi_di, self.basic_udi_di, self.trade_name, self.srn)):
            raise ValueError(
                "give at least one of udi_di, basic_udi_di, trade_name, srn: an unfiltered "
                "EUDAMED device search would page through the whole database"
            )

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (
                ("udi_di", self.udi_di),
                ("basic_udi_di", self.basic_udi_di),
                ("trade_name", self.trade_name),
                ("srn", self.srn),
            )
            if v
        ]
        return ", ".join(parts)

    def mismatches(
        self,
        *,
        udi_di: Any,
        basic_udi_di: Any,
        trade_name: Any,
        srns: tuple[Any, ...],
        trade_name_exact: bool = False,
    ) -> list[str]:
        """Names of the query fields this record does not satisfy (empty list = match)."""
        wrong: list[str] = []
        if self.udi_di and not _same_id(udi_di, self.udi_di):
            wrong.append("udi_di")
        if self.basic_udi_di and not _same_id(basic_udi_di, self.basic_udi_di):
            wrong.append("basic_udi_di")
        if self.srn and not any(_same_id(s, self.srn) for s in srns):
            wrong.append("srn")
        if self.trade_name:
            have = _fold(trade_name if isinstance(trade_name, str) else None)
            want = _fold(self.trade_name)
            ok = have == want if trade_name_exact else want in have
            if not ok:
                wrong.append("trade_name")
        return wrong


class _Client:
    """Connection lifetime shared by both EUDAMED clients.

    Both own one `_Http` (retries, rate limit, redaction) and must close it the same way,
    whether used as a context manager or closed by hand; only paging and record shapes
    differ, so those stay in the subclasses.
    """

    def __init__(self, http: _Http, *, max_pages: int) -> None:
        self._http = http
        self.base_url = http.base_url
        self.max_pages = max_pages
        self.last_stats = SearchStats()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()


class EudamedPublicClient(_Client):
    """Client of the EUDAMED public website API (devices, economic operators)."""

    def __init__(
        self,
        base_url: str = "https://ec.europa.eu/tools/eudamed/api",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        requests_per_second: float = 1.0,
        *,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        language: str = "en",
        max_pages: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            _Http(
                base_url=base_url,
                timeout=timeout,
                transport=transport,
                requests_per_second=requests_per_second,
                max_retries=max_retries,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
                headers={},
                sleep=sleep,
            ),
            max_pages=max_pages,
        )
        self.language = language

    # -- paging -------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, str], page_size: int, stats: SearchStats
    ) -> Iterator[tuple[list[Any], Provenance]]:
        """Spring pages until `last` (or `totalPages`), checking the server paged as asked."""
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        size = min(page_size, MAX_PAGE_SIZE)
        url = f"{self.base_url}{path}"
        page = 0
        while True:
            if page >= self.max_pages:
                raise EudamedError(
                    f"GET {url}: stopped after {self.max_pages} pages; narrow the query"
                )
            query = {**params, "page": str(page), "pageSize": str(size)}
            data, prov, _ = self._http.get_json(url, query)
            prov = _with_source(prov, f"{PUBLIC_SOURCE}:{path}")
            if not isinstance(data, dict):
                raise SourceFormatError(
                    "expected a JSON object (a Spring page)", location=prov.location
                )
            content = data.get("content")
            if not isinstance(content, list):
                raise SourceFormatError(
                    "missing or non-list 'content' (not a Spring page)",
                    location=prov.location,
                    field="content",
                )
            number = data.get("number")
            if isinstance(number, int) and number != page:
                raise EudamedError(
                    f"GET {prov.location}: asked for page {page}, got page {number}; "
                    "the server ignored the paging parameters"
                )
            total = data.get("totalElements")
            if isinstance(total, int):
                stats.total_elements = total
            stats.pages += 1
            stats.page_hashes.append(prov.sha256)
            yield content, prov
            last = data.get("last")
            total_pages = data.get("totalPages")
            if last is True or not content:
                return
            if last is None and isinstance(total_pages, int) and page + 1 >= total_pages:
                return
            page += 1

    # -- devices ------------------------------------------------------------------------

    def search_devices(
        self,
        *,
        udi_di: str | None = None,
        basic_udi_di: str | None = None,
        trade_name: str | None = None,
        srn: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[SourceRecord]:
        """UDI-DI search results (`/devices/udiDiData`), only those matching the query.

        Records the server returns that do not satisfy the query (an ignored filter) are
        dropped and counted in `last_stats.dropped_mismatch`; if a non-empty result holds
        no matching record at all, `EudamedError` is raised: the answer is not to the
        question asked.
        """
        query = DeviceQuery(
            udi_di=udi_di, basic_udi_di=basic_udi_di, trade_name=trade_name, srn=srn
        )
        params = {"languageIso2Code": self.language, "iso2Code": self.language}
        if udi_di:
            params["primaryDi"] = udi_di.strip()
        if basic_udi_di:
            params["basicUdi"] = basic_udi_di.strip()
        if trade_name:
            params["tradeName"] = trade_name.strip()
        if srn:
            params["srn"] = srn.strip()
        stats = self.last_stats = SearchStats()
        for content, prov in self._pages("/devices/udiDiData", params, page_size, stats):
            dropped: list[tuple[Any, list[str]]] = []
            for index, item in enumerate(content):
                stats.received += 1
                if not isinstance(item, dict):
                    raise SourceFormatError(
                        f"content[{index}] is not an object",
                        location=prov.location,
                        field="content",
                    )
                wrong = query.mismatches(
                    udi_di=item.get("primaryDi"),
                    basic_udi_di=item.get("basicUdi"),
                    trade_name=item.get("tradeName"),
                    srns=(item.get("manufacturerSrn"), item.get("mfOrPrSrn")),
                )
                if wrong:
                    stats.dropped_mismatch += 1
                    dropped.append((item.get("uuid"), wrong))
                    continue
                stats.matched += 1
                yield SourceRecord(kind="device", payload=item, provenance=prov)
            _log_dropped(dropped, prov, query)
        _check_any_matched(stats, query, self.base_url + "/devices/udiDiData")

    def device_detail(self, uuid: str) -> SourceRecord:
        """Full UDI-DI record (`/devices/udiDiData/{uuid}`): trade name texts, reference, status."""
        path = f"/devices/udiDiData/{_path_segment(uuid)}"
        data, prov, _ = self._http.get_json(
            f"{self.base_url}{path}", {"languageIso2Code": self.language}
        )
        prov = _with_source(prov, f"{PUBLIC_SOURCE}:/devices/udiDiData/{{uuid}}")
        if not isinstance(data, dict):
            raise SourceFormatError("expected a JSON object", location=prov.location)
        if data.get("uuid") not in (None, uuid):
            raise EudamedError(
                f"GET {prov.location}: asked for device {uuid}, got {data.get('uuid')}"
            )
        return SourceRecord(kind="device_detail", payload=data, provenance=prov)

    # -- economic operators -------------------------------------------------------------

    def search_actors(
        self,
        *,
        name: str | None = None,
        srn: str | None = None,
        country_iso2_code: str | None = None,
        actor_type_code: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[SourceRecord]:
        """Economic operators (`/eos`), verified against the query like device searches."""
        params = {"languageIso2Code": self.language}
        if name:
            params["name"] = name.strip()
        if srn:
            params["srn"] = srn.strip()
        if country_iso2_code:
            params["countryIso2Code"] = country_iso2_code.strip().upper()
        if actor_type_code:
            params["actorTypeCode"] = actor_type_code.strip()
        stats = self.last_stats = SearchStats()
        for content, prov in self._pages("/eos", params, page_size, stats):
            dropped: list[tuple[Any, list[str]]] = []
            for item in content:
                stats.received += 1
                if not isinstance(item, dict):
                    raise SourceFormatError(
                        "actor is not an object", location=prov.location, field="content"
                    )
                wrong: list[str] = []
                if srn and not (
                    _same_id(item.get("srn"), srn) or _same_id(item.get("eudamedIdentifier"), srn)
                ):
                    wrong.append("srn")
                if name and _fold(name) not in _fold(str(item.get("name") or "")):
                    wrong.append("name")
                if country_iso2_code and not _same_id(
                    item.get("countryIso2Code"), country_iso2_code
                ):
                    wrong.append("country_iso2_code")
                actor_type = item.get("actorType")
                if actor_type_code and not (
                    isinstance(actor_type, dict)
                    and _same_id(actor_type.get("code"), actor_type_code)
                ):
                    wrong.append("actor_type_code")
                if wrong:
                    stats.dropped_mismatch += 1
                    dropped.append((item.get("uuid"), wrong))
                    continue
                stats.matched += 1
                yield SourceRecord(kind="actor", payload=item, provenance=prov)
            _log_dropped(dropped, prov, None)
        _check_any_matched(stats, None, self.base_url + "/eos")

    def actor_public_information(self, uuid: str) -> SourceRecord:
        """Public actor record (`/actors/{uuid}/publicInformation`): name, SRN, address."""
        path = f"/actors/{_path_segment(uuid)}/publicInformation"
        data, prov, _ = self._http.get_json(
            f"{self.base_url}{path}", {"languageIso2Code": self.language}
        )
        prov = _with_source(prov, f"{PUBLIC_SOURCE}:/actors/{{uuid}}/publicInformation")
        if not isinstance(data, dict) or not isinstance(data.get("actorDataPublicView"), dict):
            raise SourceFormatError(
                "expected an object with 'actorDataPublicView'",
                location=prov.location,
                field="actorDataPublicView",
            )
        return SourceRecord(kind="actor", payload=data, provenance=prov)


def _path_segment(value: str) -> str:
    """UUIDs go into the path: refuse anything that could change the path."""
    text = value.strip()
    if not text or any(c in text for c in "/?#%\\ ") or text in {".", ".."}:
        raise ValueError(f"not a EUDAMED uuid: {value!r}")
    return text


def _log_dropped(
    dropped: list[tuple[Any, list[str]]], prov: Provenance, query: DeviceQuery | None
) -> None:
    """One warning per page, not per record: an ignored filter drops whole pages."""
    if not dropped:
        return
    log.warning(
        "eudamed.records_do_not_match_query",
        dropped=len(dropped),
        fields=sorted({f for _, fields in dropped for f in fields}),
        sample_uuids=[u for u, _ in dropped[:3]],
        query=query.describe() if query else None,
        url=prov.location,
    )


def _check_any_matched(stats: SearchStats, query: DeviceQuery | None, url: str) -> None:
    if stats.received and not stats.matched:
        what = f" ({query.describe()})" if query else ""
        raise EudamedError(
            f"{url}: none of the {stats.received} records returned matches the query{what}. "
            "The EUDAMED public API silently ignores filters it does not know, so this "
            "result is not an answer to the question; check the identifier's spelling and "
            "the filter names"
        )


class EudamedDataLakeClient(_Client):
    """Client of the official EUDAMED data-lake API (`udi`, `actors`), cursor-paged."""

    def __init__(
        self,
        base_url: str = "https://api.datalake.sante.service.ec.europa.eu/eudamed",
        api_key: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = 120.0,
        requests_per_second: float = 1.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        api_version: str = DATALAKE_API_VERSION,
        max_pages: int = 1_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = api_key.get_secret_value() if api_key is not None else ""
        super().__init__(
            _Http(
                base_url=base_url,
                timeout=timeout,
                transport=transport,
                requests_per_second=requests_per_second,
                max_retries=max_retries,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
                headers={DATALAKE_KEY_HEADER: key} if key else {},
                secrets=(key,) if key else (),
                sleep=sleep,
            ),
            max_pages=max_pages,
        )
        self.api_version = api_version

    def _cursor_pages(
        self, path: str, filters: Mapping[str, str], stats: SearchStats
    ) -> Iterator[tuple[list[Any], Provenance]]:
        """Follow `nextLink` until absent; refuse links that leave the configured host."""
        base = urlsplit(self.base_url)
        url = f"{self.base_url}{path}"
        params: dict[str, str] | None = {
            "format": "json",
            "api-version": self.api_version,
            **filters,
        }
        seen: set[str] = set()
        for _ in range(self.max_pages):
            data, prov, _ = self._http.get_json(url, params)
            prov = _with_source(prov, f"{DATALAKE_SOURCE}:{path}")
            if not isinstance(data, dict):
                raise SourceFormatError("expected a JSON object", location=prov.location)
            value = data.get("value")
            if not isinstance(value, list):
                raise SourceFormatError(
                    "missing or non-list 'value'", location=prov.location, field="value"
                )
            stats.pages += 1
            stats.page_hashes.append(prov.sha256)
            yield value, prov
            next_link = data.get("nextLink")
            if not next_link or not value:
                return
            if not isinstance(next_link, str):
                raise SourceFormatError(
                    "'nextLink' is not a string", location=prov.location, field="nextLink"
                )
            nxt = urlsplit(next_link)
            if nxt.scheme and (nxt.scheme, nxt.netloc) != (base.scheme, base.netloc):
                raise EudamedError(
                    f"{prov.location}: nextLink points to another host "
                    f"({nxt.scheme}://{nxt.netloc}); refusing to follow it"
                )
            if next_link in seen:
                raise EudamedError(f"{prov.location}: nextLink repeats; the cursor loops")
            seen.add(next_link)
            # The cursor URL carries path and query; keep our mandatory parameters if absent.
            query = dict(parse_qsl(nxt.query, keep_blank_values=True))
            query.setdefault("format", "json")
            query.setdefault("api-version", self.api_version)
            url = f"{base.scheme}://{base.netloc}{nxt.path}" if nxt.path else url
            params = query
        raise EudamedError(f"{url}: stopped after {self.max_pages} pages; narrow the query")

    def iter_udi(
        self,
        *,
        udi_di: str | None = None,
        basic_udi_di: str | None = None,
        trade_name: str | None = None,
        srn: str | None = None,
    ) -> Iterator[SourceRecord]:
        """UDI-DI records (`/udi`); `trade_name` matches exactly here (not a substring)."""
        query = DeviceQuery(
            udi_di=udi_di, basic_udi_di=basic_udi_di, trade_name=trade_name, srn=srn
        )
        filters: dict[str, str] = {}
        if udi_di:
            filters["PRIMARY_DI"] = udi_di.strip()
        if basic_udi_di:
            filters["BASIC_UDI"] = basic_udi_di.strip()
        if trade_name:
            filters["TRADE_NAME"] = trade_name.strip()
        if srn:
            filters["MF_SRN"] = srn.strip()
        stats = self.last_stats = SearchStats()
        for value, prov in self._cursor_pages("/udi", filters, stats):
            dropped: list[tuple[Any, list[str]]] = []
            for index, item in enumerate(value):
                stats.received += 1
                if not isinstance(item, dict):
                    raise SourceFormatError(
                        f"value[{index}] is not an object", location=prov.location, field="value"
                    )
                wrong = query.mismatches(
                    udi_di=item.get("PRIMARY_DI"),
                    basic_udi_di=item.get("BASIC_UDI"),
                    trade_name=item.get("TRADE_NAME"),
                    srns=(item.get("MF_SRN"),),
                    trade_name_exact=True,
                )
                if wrong:
                    stats.dropped_mismatch += 1
                    dropped.append((item.get("UUID"), wrong))
                    continue
                stats.matched += 1
                yield SourceRecord(kind="device", payload=item, provenance=prov)
            _log_dropped(dropped, prov, query)
        _check_any_matched(stats, query, self.base_url + "/udi")

    def iter_actors(self, **filters: str) -> Iterator[SourceRecord]:
        """Actor records (`/actors`). Filter semantics there are unresolved, so filters pass
        through verbatim (the data lake rejects unknown ones with HTTP 400)."""
        stats = self.last_stats = SearchStats()
        for value, prov in self._cursor_pages("/actors", filters, stats):
            for item in value:
                stats.received += 1
                if not isinstance(item, dict):
                    raise SourceFormatError(
                        "actor is not an object", location=prov.location, field="value"
                    )
                stats.matched += 1
                yield SourceRecord(kind="actor", payload=item, provenance=prov)
