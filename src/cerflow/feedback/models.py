"""Feedback on a generated report (CER); admins read it to improve templates and data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.store.base import Base
from cerflow.store.models import BigId


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_report_ref", "report_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The generated report's id; no foreign key yet: the report table belongs to the job
    # layer (issue 6), which should add the constraint when it lands.
    report_ref: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    rating: Mapped[int] = mapped_column(Integer)  # 1..5
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
