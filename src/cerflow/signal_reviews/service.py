"""Record and read signal review decisions (append-only; the newest per event counts)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cerflow.auth.models import User
from cerflow.products.service import resolve
from cerflow.signal_reviews.schemas import ReviewCreate
from cerflow.store.models import SignalReview


def event_key(event: str) -> str:
    return " ".join(event.split()).casefold()


def record(*, session: Session, product_ref: str, body: ReviewCreate, user_id: int) -> SignalReview:
    kind, key = resolve(product_ref)
    user = session.get(User, user_id)
    row = SignalReview(
        product_kind=kind,
        product_ref=key,
        event=" ".join(body.event.split()),
        event_key=event_key(body.event),
        decision=body.decision,
        reason=body.reason.strip(),
        user_id=user_id,
        user_email=user.email if user is not None else f"user {user_id}",
    )
    session.add(row)
    session.flush()
    return row


def history(*, session: Session, product_ref: str, limit: int = 500) -> list[SignalReview]:
    """Every decision on the product's signals, newest first."""
    kind, key = resolve(product_ref)
    stmt = (
        select(SignalReview)
        .where(SignalReview.product_kind == kind, SignalReview.product_ref == key)
        .order_by(SignalReview.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def refuted_events(*, session: Session, kind: str, ref: str) -> set[str]:
    """Event keys whose newest decision is "refuted": they raise no new alert."""
    latest: dict[str, str] = {}
    stmt = (
        select(SignalReview.event_key, SignalReview.decision)
        .where(SignalReview.product_kind == kind, SignalReview.product_ref == ref)
        .order_by(SignalReview.id)
    )
    for k, decision in session.execute(stmt).all():
        latest[str(k)] = str(decision)
    return {k for k, d in latest.items() if d == "refuted"}
