"""The CER inputs stored per product: one current document per product (PUT replaces it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.store.base import Base, PortableJSON
from cerflow.store.models import BigId


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CerInputsRow(Base):
    __tablename__ = "cer_inputs"
    __table_args__ = (UniqueConstraint("product_kind", "product_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_kind: Mapped[str] = mapped_column(String(8))  # drug | device
    product_ref: Mapped[str] = mapped_column(String(255))  # device code or drug key
    schema_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON)  # validated CerInputs (JSON)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )
