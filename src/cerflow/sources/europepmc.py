"""Europe PMC REST search with cursorMark paging (JSON).

Why it looks like this:
- `GET /search?query=...&format=json&resultType=core&pageSize=N&cursorMark=*` answers
  `hitCount`, `nextCursorMark` and `resultList.result`; the next page is asked with the
  returned `nextCursorMark`. The last page repeats the cursor it was asked with (or has
  none), which ends the loop; `pageSize` is at most 1,000.
- `resultType=core` carries the abstract and the full author list; `lite` does not.
- Europe PMC publishes no hard rate limit; the client keeps to 10 requests/s and retries
  429/5xx with backoff like every source.
- Malformed JSON or a body without `hitCount`/`resultList` raises a `SourceFormatError`
  naming the URL and field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.sources.literature_base import (
    LiteratureClient,
    LiteratureHttp,
    LiteratureRecord,
    SearchResult,
    parse_year,
)

if TYPE_CHECKING:
    from cerflow.config import Settings

SOURCE = "europepmc"
MAX_PAGE = 1000
RATE = 10.0
_TAGS = re.compile(r"<[^>]+>")


def parse_page(body: bytes, location: str = "europepmc") -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFormatError(
            f"malformed JSON from Europe PMC: {exc}", location=location
        ) from None
    if not isinstance(data, dict):
        raise SourceFormatError("expected a JSON object", location=location)
    if not isinstance(data.get("hitCount"), int):
        raise SourceFormatError(
            f"missing or non-integer hitCount: {data.get('hitCount')!r}",
            location=location,
            field="hitCount",
        )
    results = (data.get("resultList") or {}).get("result")
    if not isinstance(results, list):
        raise SourceFormatError(
            "missing resultList.result list", location=location, field="resultList.result"
        )
    return {
        "count": data["hitCount"],
        "next": data.get("nextCursorMark"),
        "results": results,
    }


def normalize(item: dict[str, Any]) -> LiteratureRecord:
    """One Europe PMC result (lite or core) -> a normalized record."""
    authors: list[str] = []
    for au in ((item.get("authorList") or {}).get("author")) or []:
        name = au.get("fullName") or au.get("collectiveName")
        if name:
            authors.append(str(name))
    if not authors and item.get("authorString"):
        authors = [a.strip() for a in str(item["authorString"]).rstrip(".").split(",") if a.strip()]
    journal = item.get("journalTitle")
    info = item.get("journalInfo") or {}
    if not journal and info:
        journal = (info.get("journal") or {}).get("title")
    abstract = item.get("abstractText")
    if abstract:
        abstract = " ".join(_TAGS.sub(" ", str(abstract)).split())
    source_id = f"{item.get('source', '')}:{item.get('id', '')}"
    return LiteratureRecord(
        database=SOURCE,
        source_id=source_id,
        title=str(item.get("title") or ""),
        pmid=item.get("pmid") or None,
        pmcid=item.get("pmcid") or None,
        doi=item.get("doi") or None,
        abstract=abstract or None,
        authors=tuple(authors),
        journal=journal or None,
        year=parse_year(item.get("pubYear") or info.get("yearOfPublication")),
        payload=item,
    )


class EuropePMCClient(LiteratureClient):
    def __init__(
        self,
        base_url: str = "https://www.ebi.ac.uk/europepmc/webservices/rest",
        *,
        page_size: int = 500,
        max_records: int = 10_000,
        result_type: str = "core",
        timeout: float = 30.0,
        max_retries: int = 5,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        backoff_initial: float = 1.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"Europe PMC pageSize must be 1..{MAX_PAGE}, got {page_size}")
        self.page_size = page_size
        self.max_records = max_records
        self.result_type = result_type
        self.http = LiteratureHttp(
            source=SOURCE,
            base_url=base_url,
            per_second=RATE,
            timeout=timeout,
            max_retries=max_retries,
            http=http,
            clock=clock,
            sleep=sleep,
            backoff_initial=backoff_initial,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> EuropePMCClient:
        return cls(
            settings.europepmc_base_url,
            max_records=settings.literature_max_records,
            timeout=settings.literature_timeout,
            max_retries=settings.literature_max_retries,
            **kwargs,
        )

    def search(
        self, query: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> SearchResult:
        if not query.strip():
            raise ValueError("empty Europe PMC query: give the protocol a query for Europe PMC")
        full = query
        if since or until:
            lo = (since or dt.date(1800, 1, 1)).isoformat()
            hi = (until or dt.date.today()).isoformat()
            full = f"({query}) AND FIRST_PDATE:[{lo} TO {hi}]"
        cursor = "*"
        total = 0
        records: list[LiteratureRecord] = []
        provenance: list[Provenance] = []
        while True:
            size = min(self.page_size, max(1, self.max_records - len(records)))
            params: dict[str, str | int] = {
                "query": full,
                "format": "json",
                "resultType": self.result_type,
                "pageSize": size,
                "cursorMark": cursor,
            }
            body, prov = self.http.get("search", params, query=full)
            provenance.append(prov)
            page = parse_page(body, prov.location)
            total = page["count"]
            records.extend(normalize(item) for item in page["results"])
            nxt = page["next"]
            if (
                not page["results"]
                or not nxt
                or nxt == cursor
                or len(records) >= min(total, self.max_records)
            ):
                break
            cursor = nxt
        records = records[: self.max_records]
        return SearchResult(
            database=SOURCE,
            query=full,
            total=total,
            records=records,
            provenance=provenance,
            capped=total > self.max_records,
            max_records=self.max_records,
        )
