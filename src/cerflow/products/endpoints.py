"""Product search, product detail (cached by query + data version), data refresh, and a
user's watched products (the job layer refreshes them on a schedule)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from cerflow import unit_of_work
from cerflow.api import API_PREFIX
from cerflow.api.deps import (
    AnalystUser,
    AppState,
    JobSubmitterDep,
    SessionDep,
    ViewerUser,
)
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, CONFLICT, NO_NUL, NOT_FOUND, ItemId
from cerflow.errors import CerflowError, NotFoundError
from cerflow.products import detail_cache, service
from cerflow.products.models import WatchedProduct
from cerflow.products.schemas import (
    JobAccepted,
    ProductDetail,
    ProductHit,
    WatchedCreate,
    WatchedOut,
    WatchedUpdate,
)

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
        raise CerflowError("q must contain a non-space character", status_code=422)
    return service.search(session=session, query=q, limit=limit)


def _compute_detail(state: AppState, ref: str, query: dict[str, str], version: str) -> bytes | None:
    with unit_of_work.unit_of_work(state.session_factory) as session:
        result = service.detail(session=session, settings=state.settings, ref=ref, version=version)
    if result is None:
        return None
    raw = result.model_dump_json().encode()
    state.cache.set("product_detail", query, version, raw)
    return raw


def body_response(body: detail_cache.Body, cache: str, if_none_match: str | None) -> Response:
    """The stored bytes as they are (no model validation, no re-serialisation), with ETag."""
    headers = {"X-Cache": cache, "ETag": body.etag}
    if detail_cache.not_modified(if_none_match, body.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body.raw, media_type="application/json", headers=headers)


@router.get("/{ref}", response_model=ProductDetail, responses={**NOT_FOUND})
async def detail(ref: ProductRef, _user: ViewerUser, request: Request) -> Response:
    """Counts, monthly trend, top events, PRR screen, recalls and identification.

    Cached per normalized reference and data version (header `X-Cache: hit|miss`, an
    `ETag`; `If-None-Match` with the same tag answers 304 without a body). A hit is
    normally served before this endpoint by `products.cached_read` (the same checks
    without the router's cost); this endpoint answers what the fast path leaves to it:
    misses, API keys and every error. A miss computes in a worker thread, once for all
    concurrent requests of the same product and version.
    """
    state: AppState = request.app.state.cerflow  # not `StateDep`: one dependency fewer
    holder = request.app.state
    found = await detail_cache.lookup(holder, state, ref)
    if_none_match = request.headers.get("if-none-match")
    if found.body is not None:
        return body_response(found.body, "hit", if_none_match)
    version = found.key[0]

    async def compute() -> bytes | None:
        return await run_in_threadpool(_compute_detail, state, ref, found.query, version)

    raw = await detail_cache.single_flight(holder).run(found.key, compute)
    if raw is None:
        raise NotFoundError(f"no stored data for product {ref!r}; try search first")
    body = detail_cache.remember(holder, state, found.key, raw)
    return body_response(body, "miss", if_none_match)


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


# --- watched products ------------------------------------------------------------------

watched_router = APIRouter(
    prefix=f"{API_PREFIX}/watched", tags=["watched products"], responses={**AUTH_RESPONSES}
)


@watched_router.get("", response_model=list[WatchedOut])
def list_watched(user: ViewerUser, session: SessionDep) -> list[WatchedProduct]:
    return service.list_watched(session=session, user_id=user.user_id)


@watched_router.post(
    "", response_model=WatchedOut, status_code=201, responses={**CONFLICT, **BODY_ERRORS}
)
def create_watched(body: WatchedCreate, user: AnalystUser, session: SessionDep) -> WatchedProduct:
    return service.watch(
        session=session, user_id=user.user_id, product_ref=body.product_ref, note=body.note
    )


@watched_router.get("/{item_id}", response_model=WatchedOut, responses={**NOT_FOUND})
def get_watched(item_id: ItemId, user: ViewerUser, session: SessionDep) -> WatchedProduct:
    return service.own_watched(session=session, user_id=user.user_id, item_id=item_id)


@watched_router.patch(
    "/{item_id}", response_model=WatchedOut, responses={**NOT_FOUND, **BODY_ERRORS}
)
def update_watched(
    item_id: ItemId, body: WatchedUpdate, user: AnalystUser, session: SessionDep
) -> WatchedProduct:
    changes = body.model_dump(include=body.model_fields_set)
    return service.update_watched(
        session=session, user_id=user.user_id, item_id=item_id, changes=changes
    )


@watched_router.delete("/{item_id}", status_code=204, responses={**NOT_FOUND})
def delete_watched(item_id: ItemId, user: AnalystUser, session: SessionDep) -> Response:
    service.unwatch(session=session, user_id=user.user_id, item_id=item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
