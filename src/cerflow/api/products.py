"""Product search, product detail (cached by query + data version) and data refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from cerflow.api import API_PREFIX
from cerflow.api.deps import (
    AnalystUser,
    CacheDep,
    JobSubmitterDep,
    SessionDep,
    SettingsDep,
    ViewerUser,
)
from cerflow.api.errors import AUTH_RESPONSES, NO_NUL, NOT_FOUND
from cerflow.products import service
from cerflow.products.schemas import JobAccepted, ProductDetail, ProductHit

router = APIRouter(prefix=f"{API_PREFIX}/products", tags=["products"], responses={**AUTH_RESPONSES})

ProductRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00/]*\S[^\x00/]*$",
        description="FDA device product code (e.g. DQA) or drug name/ingredient",
        examples=["DQA", "ADALIMUMAB"],
    ),
]


@router.get("/search", response_model=list[ProductHit])
def search(
    _user: ViewerUser,
    session: SessionDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="Product code, drug name/ingredient or brand name",
            examples=["DQA"],
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ProductHit]:
    """Search stored reports, recalls and devices by code or name."""
    if not q.strip():
        raise HTTPException(422, detail="q must contain a non-space character")
    return service.search(session=session, query=q, limit=limit)


@router.get("/{ref}", response_model=ProductDetail, responses={**NOT_FOUND})
def detail(
    ref: ProductRef,
    _user: ViewerUser,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
    response: Response,
) -> Response | ProductDetail:
    """Counts, monthly trend, top events, PRR screen, recalls and identification.

    Cached per normalized reference and data version (header `X-Cache: hit|miss`).
    """
    kind, key = service.resolve(ref)
    version = service.data_version(session=session)
    query = {"kind": kind, "ref": key}
    raw = cache.get("product_detail", query, version)
    if raw is not None:
        return Response(content=raw, media_type="application/json", headers={"X-Cache": "hit"})
    result = service.detail(session=session, settings=settings, ref=ref, version=version)
    if result is None:
        raise HTTPException(404, detail=f"no stored data for product {ref!r}; try search first")
    cache.set("product_detail", query, version, result.model_dump_json().encode())
    response.headers["X-Cache"] = "miss"
    return result


@router.post(
    "/{ref}/refresh",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def refresh(
    ref: ProductRef, user: AnalystUser, session: SessionDep, jobs: JobSubmitterDep
) -> JobAccepted:
    """Start an ingest job that fetches fresh data for this product; poll the job URL."""
    kind, key = service.resolve(ref)
    handle = jobs.submit(
        session=session,
        kind="ingest",
        payload={"product_kind": kind, "product_ref": key},
        requested_by=user.user_id,
    )
    return JobAccepted(
        job_id=handle.id,
        kind=handle.kind,
        state=handle.state,
        status_url=f"/api/v1/jobs/{handle.id}",
    )
