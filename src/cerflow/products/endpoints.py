"""Product search, product detail (cached by query + data version), data refresh, and a
user's watched products (the job layer refreshes them on a schedule)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
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
from cerflow.cache import count_request as count_cache
from cerflow.errors import CerflowError, NotFoundError
from cerflow.products import service
from cerflow.products.models import WatchedProduct
from cerflow.products.schemas import (
    JobAccepted,
    ProductDetail,
    ProductHit,
    WatchedCreate,
    WatchedOut,
    WatchedUpdate,
)
from cerflow.products.version import DataVersionMemo

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


def _version_memo(state: AppState, request: Request) -> DataVersionMemo:
    """One memo per app (and so per session factory), created on first use."""
    memo: DataVersionMemo | None = getattr(request.app.state, "product_data_version", None)
    if memo is None or memo.session_factory is not state.session_factory:
        memo = DataVersionMemo(state.session_factory)
        request.app.state.product_data_version = memo
    return memo


class _LocalDetails:
    """Per-process copy of recent detail bodies in front of Redis (saves one round trip).

    Keyed by data version, so an entry is never stale beyond the version memo's bound;
    bounded in size and age. Kept while Redis is merely slow (timeouts under load: the
    copy is what keeps cached reads off PostgreSQL then) and dropped once Redis is seen
    unreachable, so after an outage the shared cache is again the one source of hits.
    """

    def __init__(self, max_items: int = 256, ttl_seconds: float = 30.0) -> None:
        self.max_items = max_items
        self.ttl = ttl_seconds
        self._data: OrderedDict[tuple[str, str, str], tuple[float, bytes]] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> bytes | None:
        item = self._data.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    def put(self, key: tuple[str, str, str], value: bytes) -> None:
        self._data[key] = (time.monotonic() + self.ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_items:
            self._data.popitem(last=False)


def _local_cache(state: AppState, request: Request) -> _LocalDetails | None:
    """Only in front of Redis (the in-memory cache needs no copy) and only while reachable."""
    if state.redis is None:
        return None
    local: _LocalDetails | None = getattr(request.app.state, "product_detail_local", None)
    if local is None or state.redis.unreachable:
        local = _LocalDetails()
        request.app.state.product_detail_local = local
    return local


class _SingleFlight:
    """One computation per key at a time; concurrent callers share its result.

    When the cache is cold (a new data version, Redis bypassed) hundreds of requests for
    the same product arrive together; without this each ran the full set of PostgreSQL
    queries in its own thread. The computation is a task of its own, so a caller that
    goes away (client disconnect) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._running: dict[tuple[str, str, str], asyncio.Future[bytes | None]] = {}

    async def run(
        self, key: tuple[str, str, str], compute: Callable[[], Awaitable[bytes | None]]
    ) -> bytes | None:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda _t: self._running.pop(key, None))
        return await asyncio.shield(task)


def _single_flight(request: Request) -> _SingleFlight:
    flight: _SingleFlight | None = getattr(request.app.state, "product_detail_flight", None)
    if flight is None:
        flight = _SingleFlight()
        request.app.state.product_detail_flight = flight
    return flight


def _compute_detail(state: AppState, ref: str, query: dict[str, str], version: str) -> bytes | None:
    with unit_of_work.unit_of_work(state.session_factory) as session:
        result = service.detail(session=session, settings=state.settings, ref=ref, version=version)
    if result is None:
        return None
    raw = result.model_dump_json().encode()
    state.cache.set("product_detail", query, version, raw)
    return raw


@router.get("/{ref}", response_model=ProductDetail, responses={**NOT_FOUND})
async def detail(ref: ProductRef, _user: ViewerUser, request: Request) -> Response:
    """Counts, monthly trend, top events, PRR screen, recalls and identification.

    Cached per normalized reference and data version (header `X-Cache: hit|miss`). A hit
    stays on the event loop: JWT checked in-process, data version from a per-process memo
    (at most 1 s old, see `cerflow.products.version`), the per-process copy or one async
    Redis GET, no database. A miss computes in a worker thread, once for all concurrent
    requests of the same product and version.
    """
    state: AppState = request.app.state.cerflow  # not `StateDep`: one dependency fewer
    kind, key = service.resolve(ref)
    version = await _version_memo(state, request).get()
    query = {"kind": kind, "ref": key}
    local = _local_cache(state, request)
    l1_key = (version, kind, key)
    raw = local.get(l1_key) if local is not None else None
    if raw is not None:
        count_cache("product_detail", "hit")
    else:
        raw = await state.cache.aget("product_detail", query, version)
    if raw is not None:
        if local is not None:
            local.put(l1_key, raw)
        return Response(content=raw, media_type="application/json", headers={"X-Cache": "hit"})

    async def compute() -> bytes | None:
        return await run_in_threadpool(_compute_detail, state, ref, query, version)

    raw = await _single_flight(request).run(l1_key, compute)
    if raw is None:
        raise NotFoundError(f"no stored data for product {ref!r}; try search first")
    if local is not None and state.redis is not None and not state.redis.unreachable:
        local.put(l1_key, raw)
    return Response(content=raw, media_type="application/json", headers={"X-Cache": "miss"})


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
