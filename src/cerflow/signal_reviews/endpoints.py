"""Signal review over HTTP: record a decision (analysts) and read the history (viewers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS
from cerflow.signal_reviews import service
from cerflow.signal_reviews.schemas import ReviewCreate, ReviewOut
from cerflow.store.models import SignalReview
from cerflow.text_rules import IDENTIFIER

router = APIRouter(
    prefix=f"{API_PREFIX}/products", tags=["signal review"], responses={**AUTH_RESPONSES}
)
ProductRef = Annotated[str, Path(min_length=1, max_length=255, pattern=IDENTIFIER)]


@router.post(
    "/{ref}/signal-reviews",
    response_model=ReviewOut,
    status_code=201,
    responses={**BODY_ERRORS},
)
def create_review(
    ref: ProductRef, body: ReviewCreate, user: AnalystUser, session: SessionDep
) -> SignalReview:
    """Record a decision on one signal; the newest decision per event is the one in force."""
    return service.record(session=session, product_ref=ref, body=body, user_id=user.user_id)


@router.get("/{ref}/signal-reviews", response_model=list[ReviewOut])
def list_reviews(ref: ProductRef, _user: ViewerUser, session: SessionDep) -> list[SignalReview]:
    """Every decision on the product's signals, newest first (the review history)."""
    return service.history(session=session, product_ref=ref)
