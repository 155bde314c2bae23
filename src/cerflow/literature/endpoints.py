"""Literature protocol and searches over HTTP.

GET/PUT `/products/{ref}/literature/protocol` read (viewers) and store (analysts) the
product's search protocol; PUT validates first (422 naming each field, nothing stored) and
stores a new version only when the protocol changed. GET `/products/{ref}/literature/
searches` lists the stored searches with their counts; POST to it starts a search job
(type "literature"; poll the job URL), as `cerflow literature search` does in the foreground.
POST `/products/{ref}/literature/records/{item_id}/appraisals` stores a MEDDEV A6
appraisal of an included record (analysts, approvers, admins; 422 naming each field, or
why the record cannot be appraised, nothing stored); GET `/products/{ref}/literature/
appraisals` lists the current appraisal of each record of the product's latest search.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, JobSubmitterDep, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, NOT_FOUND
from cerflow.errors import NotFoundError
from cerflow.literature import appraisal, service
from cerflow.literature.appraisal import AppraisalIn, AppraisalOut
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
