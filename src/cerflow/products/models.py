"""Products a user watches; the job layer refreshes them on a schedule."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.store.base import Base
from cerflow.store.models import BigId


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WatchedProduct(Base):
    __tablename__ = "watched_products"
    __table_args__ = (UniqueConstraint("user_id", "product_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    product_ref: Mapped[str] = mapped_column(String(255))  # device code or drug key
    kind: Mapped[str] = mapped_column(String(8))  # drug | device
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )
