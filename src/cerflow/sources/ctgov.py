"""ClinicalTrials.gov API v2: studies search (pageToken paging) and study detail (JSON).

Why it looks like this:
- `GET /studies?query.term=...&pageSize=N&countTotal=true` answers `studies`,
  `totalCount` (on the first page when asked) and `nextPageToken`; the next page is asked
  with `pageToken`. No token means the last page. `pageSize` is at most 1,000.
- `GET /studies/{nctId}` answers one study; `resultsSection.adverseEventsModule` holds the
  posted adverse-event tables (event groups with numbers affected/at risk, serious and
  other events by term and organ system) when results are posted (`hasResults`).
- ClinicalTrials.gov asks for about 50 requests a minute; the client keeps to 1/s.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.sources.literature_base import (
    LiteratureClient,
    LiteratureHttp,
    LiteratureRecord,
    SearchResult,
    parse_year,
)

if TYPE_CHECKING:
    import httpx

    from cerflow.config import Settings

SOURCE = "ctgov"
MAX_PAGE = 1000
RATE = 50 / 60
_NCT = re.compile(r"^NCT\d{8}$")


def _load(body: bytes, location: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFormatError(
            f"malformed JSON from ClinicalTrials.gov: {exc}", location=location
        ) from None
    if not isinstance(data, dict):
        raise SourceFormatError("expected a JSON object", location=location)
    return data


def normalize(study: dict[str, Any], location: str = "ctgov") -> LiteratureRecord:
    proto = study.get("protocolSection")
    if not isinstance(proto, dict):
        raise SourceFormatError(
            "study without protocolSection", location=location, field="protocolSection"
        )
    ident = proto.get("identificationModule") or {}
    nct = ident.get("nctId")
    if not nct:
        raise SourceFormatError(
            "study without nctId",
            location=location,
            field="protocolSection.identificationModule.nctId",
        )
    status = proto.get("statusModule") or {}
    start = (status.get("startDateStruct") or {}).get("date")
    sponsor = ((proto.get("sponsorCollaboratorsModule") or {}).get("leadSponsor") or {}).get("name")
    return LiteratureRecord(
        database=SOURCE,
        source_id=str(nct),
        title=str(ident.get("officialTitle") or ident.get("briefTitle") or ""),
        nct_id=str(nct),
        abstract=(proto.get("descriptionModule") or {}).get("briefSummary"),
        authors=(str(sponsor),) if sponsor else (),
        journal=None,
        year=parse_year(start),
        payload=study,
    )


@dataclass(frozen=True, slots=True)
class AdverseEventRow:
    """One posted adverse-event term in one arm (event group)."""

    nct_id: str
    group_id: str
    group_title: str
    term: str
    organ_system: str
    serious: bool
    num_affected: int | None
    num_at_risk: int | None


def adverse_events(study: dict[str, Any]) -> list[AdverseEventRow]:
    """The posted adverse-event table of a study (empty when no results are posted)."""
    nct = str(((study.get("protocolSection") or {}).get("identificationModule") or {}).get("nctId"))
    module = (study.get("resultsSection") or {}).get("adverseEventsModule") or {}
    groups = {g.get("id"): str(g.get("title") or "") for g in module.get("eventGroups") or []}
    rows: list[AdverseEventRow] = []
    for key, serious in (("seriousEvents", True), ("otherEvents", False)):
        for event in module.get(key) or []:
            for stat in event.get("stats") or []:
                gid = str(stat.get("groupId") or "")
                rows.append(
                    AdverseEventRow(
                        nct_id=nct,
                        group_id=gid,
                        group_title=groups.get(gid, ""),
                        term=str(event.get("term") or ""),
                        organ_system=str(event.get("organSystem") or ""),
                        serious=serious,
                        num_affected=stat.get("numAffected"),
                        num_at_risk=stat.get("numAtRisk"),
                    )
                )
    return rows


class ClinicalTrialsClient(LiteratureClient):
    def __init__(
        self,
        base_url: str = "https://clinicaltrials.gov/api/v2",
        *,
        page_size: int = 100,
        max_records: int = 10_000,
        timeout: float = 30.0,
        max_retries: int = 5,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        backoff_initial: float = 1.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"ClinicalTrials.gov pageSize must be 1..{MAX_PAGE}, got {page_size}")
        self.page_size = page_size
        self.max_records = max_records
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
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ClinicalTrialsClient:
        return cls(
            settings.ctgov_base_url,
            max_records=settings.literature_max_records,
            timeout=settings.literature_timeout,
            max_retries=settings.literature_max_retries,
            **kwargs,
        )

    def search(
        self, term: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> SearchResult:
        if not term.strip():
            raise ValueError("empty ClinicalTrials.gov query: give the protocol a query for it")
        full = term
        if since or until:
            lo = (since or dt.date(1900, 1, 1)).isoformat()
            hi = (until or dt.date.today()).isoformat()
            full = f"({term}) AND AREA[StudyFirstPostDate]RANGE[{lo},{hi}]"
        token: str | None = None
        total = 0
        records: list[LiteratureRecord] = []
        provenance: list[Provenance] = []
        while True:
            params: dict[str, str | int] = {
                "query.term": full,
                "pageSize": min(self.page_size, max(1, self.max_records - len(records))),
                "countTotal": "true",
                "format": "json",
            }
            if token:
                params["pageToken"] = token
            body, prov = self.http.get("studies", params, query=full)
            provenance.append(prov)
            data = _load(body, prov.location)
            studies = data.get("studies")
            if not isinstance(studies, list):
                raise SourceFormatError(
                    "missing studies list", location=prov.location, field="studies"
                )
            if token is None:
                count = data.get("totalCount")
                if not isinstance(count, int):
                    raise SourceFormatError(
                        f"missing or non-integer totalCount: {count!r}",
                        location=prov.location,
                        field="totalCount",
                    )
                total = count
            records.extend(normalize(s, prov.location) for s in studies)
            token = data.get("nextPageToken")
            if not token or not studies or len(records) >= min(total, self.max_records):
                break
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

    def study(self, nct_id: str) -> tuple[dict[str, Any], Provenance]:
        """One study's full record (with `resultsSection` when results are posted)."""
        clean = nct_id.strip().upper()
        if not _NCT.match(clean):
            raise ValueError(f"invalid NCT id {nct_id!r}: expected NCT followed by 8 digits")
        body, prov = self.http.get(f"studies/{clean}", {"format": "json"}, query=clean)
        data = _load(body, prov.location)
        normalize(data, prov.location)
        return data, prov
