"""One `cer_reports` row per report job (unique `job_id`): a redelivered task reuses it.

The canonical adverse-event table is already called `reports`, hence `cer_reports`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.jobs.models import utcnow
from cerflow.store.base import Base


class CerReport(Base):
    __tablename__ = "cer_reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    product_kind: Mapped[str] = mapped_column(String(8))
    product_ref: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(300))
    # format -> path relative to the reports directory
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
