"""A user's watched products (the job layer refreshes them on a schedule)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, CONFLICT, NOT_FOUND, TOO_LARGE, ItemId
from cerflow.auth.service import Principal
from cerflow.products.models import WatchedProduct
from cerflow.products.schemas import WatchedCreate, WatchedOut, WatchedUpdate
from cerflow.products.service import resolve

router = APIRouter(
    prefix=f"{API_PREFIX}/watched", tags=["watched products"], responses={**AUTH_RESPONSES}
)


def _own(session: SessionDep, principal: Principal, item_id: int) -> WatchedProduct:
    item = session.get(WatchedProduct, item_id)
    if item is None or item.user_id != principal.user_id:
        raise HTTPException(404, detail=f"no watched product with id {item_id}")
    return item


@router.get("", response_model=list[WatchedOut])
def list_watched(user: ViewerUser, session: SessionDep) -> list[WatchedProduct]:
    return list(
        session.scalars(
            select(WatchedProduct)
            .where(WatchedProduct.user_id == user.user_id)
            .order_by(WatchedProduct.id)
        )
    )


@router.post("", response_model=WatchedOut, status_code=201, responses={**CONFLICT, **TOO_LARGE})
def create_watched(body: WatchedCreate, user: AnalystUser, session: SessionDep) -> WatchedProduct:
    kind, key = resolve(body.product_ref)
    exists = session.scalar(
        select(WatchedProduct.id).where(
            WatchedProduct.user_id == user.user_id, WatchedProduct.product_ref == key
        )
    )
    if exists is not None:
        raise HTTPException(409, detail=f"you already watch {key} (id {exists})")
    item = WatchedProduct(user_id=user.user_id, product_ref=key, kind=kind, note=body.note)
    session.add(item)
    session.flush()
    return item


@router.get("/{item_id}", response_model=WatchedOut, responses={**NOT_FOUND})
def get_watched(item_id: ItemId, user: ViewerUser, session: SessionDep) -> WatchedProduct:
    return _own(session, user, item_id)


@router.patch("/{item_id}", response_model=WatchedOut, responses={**NOT_FOUND, **TOO_LARGE})
def update_watched(
    item_id: ItemId, body: WatchedUpdate, user: AnalystUser, session: SessionDep
) -> WatchedProduct:
    item = _own(session, user, item_id)
    if "note" in body.model_fields_set:
        item.note = body.note
    session.flush()
    return item


@router.delete("/{item_id}", status_code=204, responses={**NOT_FOUND})
def delete_watched(item_id: ItemId, user: AnalystUser, session: SessionDep) -> Response:
    session.delete(_own(session, user, item_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
