"""A record of each backup, so the service can say how old the newest good one is."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.jobs.models import utcnow
from cerflow.store.base import Base
from cerflow.store.models import BigId


class BackupRun(Base):
    """One `cerflow backup create`: where it went, how big, whether it finished.

    Written into the database being backed up (after the dump, so the dump itself does
    not contain its own row); the API's /metrics reads the newest successful one for the
    backup-age alert."""

    __tablename__ = "backup_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
