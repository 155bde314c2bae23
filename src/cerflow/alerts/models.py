"""Alerts (deduplicated per user by `dedup_key`) and per-watch refresh bookkeeping."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.jobs.models import utcnow
from cerflow.store.base import Base
from cerflow.store.models import BigId


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("user_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    watched_id: Mapped[int | None] = mapped_column(
        ForeignKey("watched_products.id", ondelete="SET NULL")
    )
    product_ref: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # signal | anomaly
    # e.g. "signal:device:DQA:term" - the same signal alerts once per user.
    dedup_key: Mapped[str] = mapped_column(String(400))
    title: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set by its user (POST /api/v1/alerts/{id}/ack); the first acknowledgement is kept.
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WatchRefresh(Base):
    __tablename__ = "watch_refreshes"

    watched_id: Mapped[int] = mapped_column(
        ForeignKey("watched_products.id", ondelete="CASCADE"), primary_key=True
    )
    last_job_id: Mapped[str | None] = mapped_column(String(32))
    last_refreshed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
