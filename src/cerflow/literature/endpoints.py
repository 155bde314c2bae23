"""Literature protocol and searches over HTTP.

GET/PUT `/products/{ref}/literature/protocol` read (viewers) and store (analysts) the
product's search protocol; PUT validates first (422 naming each field, nothing stored) and
stores a new version only when the protocol changed. GET `/products/{ref}/literature/
searches` lists the stored searches with their counts; POST to it starts a search job
(type "literature"; poll the job URL), as `cerflow literature search` does in the foreground.

Screening, per search (`.../literature/searches/{search_id}/...`): GET `records` lists its
unique records with their current decisions and LLM suggestion (viewers); POST `decisions`
appends a human decision (analysts, approvers, admins; 422 naming the rule and the
allowed reason codes, nothing stored); POST `suggestions` asks the LLM for title/abstract
suggestions (analysts; 409 while off), which never count as decisions; GET
`screening.csv` is the screening log (viewers).

POST `/products/{ref}/literature/records/{item_id}/appraisals` stores a MEDDEV A6
appraisal of an included record (analysts, approvers, admins; 422 naming each field, or
why the record cannot be appraised, nothing stored); GET `/products/{ref}/literature/
appraisals` lists the current appraisal of each record of the product's latest search.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, JobSubmitterDep, SessionDep, SettingsDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, CONFLICT, NOT_FOUND
from cerflow.errors import NotFoundError
from cerflow.literature import appraisal, screening, service
from cerflow.literature.appraisal import AppraisalIn, AppraisalOut
from cerflow.literature.models import LiteratureScreeningDecision, LiteratureScreeningSuggestion
from cerflow.literature.schemas import SearchProtocol
from cerflow.products.schemas import JobAccepted
from cerflow.text_rules import IDENTIFIER

router = APIRouter(
    prefix=f"{API_PREFIX}/products", tags=["literature"], responses={**AUTH_RESPONSES}
)
ProductRef = Annotated[str, Path(min_length=1, max_length=255, pattern=IDENTIFIER)]


class ProtocolOut(BaseModel):
    product_kind: str
    product_ref: str
    version: int
    created_at: dt.datetime
    created_by: str
    protocol: SearchProtocol


class SearchOut(BaseModel):
    id: int
    protocol_version: int
    finished_at: dt.datetime
    created_by: str
    identified: int
    duplicates_removed: int
    unique_records: int
    counts: dict[str, Any]


@router.get("/{ref}/literature/protocol", response_model=ProtocolOut, responses={**NOT_FOUND})
def get_protocol(
    ref: ProductRef,
    _user: ViewerUser,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> ProtocolOut:
    """The product's current (or a given) literature search protocol version."""
    found = service.get_protocol(session=session, product_ref=ref, version=version)
    if found is None:
        raise NotFoundError(
            f"no literature protocol stored for {ref!r}"
            + (f" at version {version}" if version else "; PUT one to this URL")
        )
    row, proto = found
    return ProtocolOut(
        product_kind=row.product_kind,
        product_ref=row.product_ref,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by_email,
        protocol=proto,
    )


@router.put("/{ref}/literature/protocol", response_model=ProtocolOut, responses={**BODY_ERRORS})
def put_protocol(
    ref: ProductRef, body: SearchProtocol, user: AnalystUser, session: SessionDep
) -> ProtocolOut:
    """Store the protocol as the next version (unchanged: the current version is returned)."""
    row, proto, _created = service.set_protocol(
        session=session, product_ref=ref, data=body.model_dump(mode="json"), user_id=user.user_id
    )
    return ProtocolOut(
        product_kind=row.product_kind,
        product_ref=row.product_ref,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by_email,
        protocol=proto,
    )


@router.get("/{ref}/literature/searches", response_model=list[SearchOut])
def list_searches(ref: ProductRef, _user: ViewerUser, session: SessionDep) -> list[SearchOut]:
    """The product's stored literature searches, newest first, with counts per database."""
    versions = {
        p.id: p.version for p in service.list_protocol_versions(session=session, product_ref=ref)
    }
    return [
        SearchOut(
            id=s.id,
            protocol_version=versions.get(s.protocol_id, 0),
            finished_at=s.finished_at,
            created_by=s.created_by_email,
            identified=s.identified,
            duplicates_removed=s.duplicates_removed,
            unique_records=s.unique_records,
            counts=s.counts,
        )
        for s in service.list_searches(session=session, product_ref=ref)
    ]


@router.post(
    "/{ref}/literature/searches",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND},
)
def start_search(
    ref: ProductRef, user: AnalystUser, session: SessionDep, jobs: JobSubmitterDep
) -> JobAccepted:
    """Start a job that runs the product's current protocol and stores the search."""
    row = service.latest_row(session=session, product_ref=ref)
    if row is None:
        raise NotFoundError(f"no literature protocol stored for {ref!r}; PUT one first")
    handle = jobs.submit(
        session=session,
        kind="literature",
        payload={"product_kind": row.product_kind, "product_ref": row.product_ref},
        requested_by=user.user_id,
    )
    return JobAccepted(
        job_id=handle.id,
        kind=handle.kind,
        state=handle.state,
        status_url=f"/api/v1/jobs/{handle.id}",
    )


SearchId = Annotated[int, Path(ge=1, le=2**62)]


class DecisionOut(BaseModel):
    id: int
    record_id: int
    stage: str
    decision: str
    reason_code: str | None
    note: str | None
    decided_by: str
    decided_at: dt.datetime
    llm_suggested: bool
    suggestion_id: int | None
    carried_over: bool

    @classmethod
    def of(cls, row: LiteratureScreeningDecision) -> DecisionOut:
        return cls(
            id=row.id,
            record_id=row.record_id,
            stage=row.stage,
            decision=row.decision,
            reason_code=row.reason_code,
            note=row.note,
            decided_by=row.decided_by_email,
            decided_at=row.decided_at,
            llm_suggested=bool(row.llm_suggested),
            suggestion_id=row.suggestion_id,
            carried_over=bool(row.carried_over),
        )


class SuggestionOut(BaseModel):
    id: int
    stage: str
    decision: str | None
    reason_code: str | None
    rationale: str | None
    model: str
    cost_usd: float
    note: str = "a suggestion, not a decision: confirm it (suggestion_id) or override it"

    @classmethod
    def of(cls, row: LiteratureScreeningSuggestion) -> SuggestionOut:
        return cls(
            id=row.id,
            stage=row.stage,
            decision=row.decision,
            reason_code=row.reason_code,
            rationale=row.rationale,
            model=row.model,
            cost_usd=row.cost_usd,
        )


class RecordOut(BaseModel):
    id: int
    database: str
    source_id: str
    pmid: str | None
    pmcid: str | None
    doi: str | None
    nct_id: str | None
    title: str
    abstract: str | None
    year: int | None
    state: str
    next_stage: str | None
    title_abstract: DecisionOut | None
    full_text: DecisionOut | None
    suggestion: SuggestionOut | None


class RecordsOut(BaseModel):
    search_id: int
    protocol_version: int
    exclusion_reasons: dict[str, str]
    counts: dict[str, Any]
    records: list[RecordOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: int = Field(ge=1, le=2**62)
    stage: screening.Stage
    decision: screening.Decision
    reason_code: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=4000)
    suggestion_id: int | None = Field(default=None, ge=1, le=2**62)


class SuggestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_ids: list[int] | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=500)


class SuggestOut(BaseModel):
    asked: int
    valid: int
    invalid: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str
    error: str | None
    suggestion_ids: list[int]


@router.get(
    "/{ref}/literature/searches/{search_id}/records",
    response_model=RecordsOut,
    responses={**NOT_FOUND},
)
def list_records(
    ref: ProductRef,
    search_id: SearchId,
    _user: ViewerUser,
    session: SessionDep,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(screening.STATES) + ")$")] = None,
) -> RecordsOut:
    """The search's unique records with their current screening state (filter by `state`)."""
    search = screening.get_search(session=session, search_id=search_id, product_ref=ref)
    version, proto = screening.protocol_of(session, search)
    states = screening.record_states(session, search.id)
    return RecordsOut(
        search_id=search.id,
        protocol_version=version,
        exclusion_reasons={c.code: c.text for c in proto.exclusion},
        counts=screening.tally(states),
        records=[
            RecordOut(
                id=st.record.id,
                database=st.record.database,
                source_id=st.record.source_id,
                pmid=st.record.pmid,
                pmcid=st.record.pmcid,
                doi=st.record.doi,
                nct_id=st.record.nct_id,
                title=st.record.title,
                abstract=st.record.abstract,
                year=st.record.year,
                state=st.state,
                next_stage=st.next_stage,
                title_abstract=DecisionOut.of(st.title_abstract) if st.title_abstract else None,
                full_text=DecisionOut.of(st.full_text) if st.full_text else None,
                suggestion=SuggestionOut.of(st.suggestion) if st.suggestion else None,
            )
            for st in states
            if state is None or st.state == state
        ],
    )


@router.post(
    "/{ref}/literature/searches/{search_id}/decisions",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def post_decision(
    ref: ProductRef, search_id: SearchId, body: DecisionIn, user: AnalystUser, session: SessionDep
) -> DecisionOut:
    """Append a human screening decision (the newest decision of a record and stage counts)."""
    row = screening.record_decision(
        session=session,
        search_id=search_id,
        record_id=body.record_id,
        stage=body.stage,
        decision=body.decision,
        reason_code=body.reason_code,
        note=body.note,
        suggestion_id=body.suggestion_id,
        user_id=user.user_id,
        product_ref=ref,
    )
    return DecisionOut.of(row)


@router.post(
    "/{ref}/literature/searches/{search_id}/suggestions",
    response_model=SuggestOut,
    responses={**NOT_FOUND, **BODY_ERRORS, **CONFLICT},
)
def post_suggestions(
    ref: ProductRef,
    search_id: SearchId,
    body: SuggestIn,
    user: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
) -> SuggestOut:
    """Ask the LLM for title/abstract suggestions on queued records (409 while off)."""
    res = screening.suggest(
        session=session,
        search_id=search_id,
        settings=settings,
        user_id=user.user_id,
        record_ids=body.record_ids,
        limit=body.limit,
        product_ref=ref,
    )
    return SuggestOut(
        asked=res.asked,
        valid=res.valid,
        invalid=res.invalid,
        failed=res.failed,
        prompt_tokens=res.prompt_tokens,
        completion_tokens=res.completion_tokens,
        cost_usd=res.cost_usd,
        model=res.model,
        error=res.error,
        suggestion_ids=res.suggestion_ids,
    )


@router.get(
    "/{ref}/literature/searches/{search_id}/screening.csv",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"text/csv": {}}}},
)
def screening_csv(
    ref: ProductRef, search_id: SearchId, _user: ViewerUser, session: SessionDep
) -> Response:
    """The screening log: every decision row, formula characters neutralized."""
    search = screening.get_search(session=session, search_id=search_id, product_ref=ref)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", search.product_ref)
    return Response(
        screening.screening_log_csv(session, search.id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (f'attachment; filename="screening-{name}-{search.id}.csv"')
        },
    )


RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _record_of_product(session: SessionDep, ref: str, record_id: int) -> None:
    """404 unless the record belongs to a search of this product."""
    from cerflow.products.service import resolve

    if appraisal.record_owner(session=session, record_id=record_id) != resolve(ref):
        raise NotFoundError(f"no literature record {record_id} for {ref!r}")


@router.post(
    "/{ref}/literature/records/{item_id}/appraisals",
    response_model=AppraisalOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def post_appraisal(
    ref: ProductRef, item_id: RecordId, body: AppraisalIn, user: AnalystUser, session: SessionDep
) -> AppraisalOut:
    """Appraise an included record (a new row; the newest appraisal is the current one)."""
    _record_of_product(session, ref, item_id)
    row = appraisal.appraise(
        session=session,
        record_id=item_id,
        data=body.model_dump(mode="json"),
        user_id=user.user_id,
        where=f"record {item_id}",
    )
    return appraisal.to_out(row)


@router.get("/{ref}/literature/appraisals", response_model=list[AppraisalOut])
def list_appraisals(ref: ProductRef, _user: ViewerUser, session: SessionDep) -> list[AppraisalOut]:
    """The current appraisal of each record of the product's latest search."""
    searches = service.list_searches(session=session, product_ref=ref)
    if not searches:
        return []
    current = appraisal.current_appraisals(session=session, search_id=searches[0].id)
    return [appraisal.to_out(current[rid]) for rid in sorted(current)]
