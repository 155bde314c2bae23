"""`report_versions`: version n of a product's report; `audit_events`: the append-only trail.

A version keeps its facts (the `facts.json` content) and its narrative texts per section, so
two versions can be compared without the report files. Once approved, a version row is
immutable: a trigger (SQLite and PostgreSQL, migration 0008_versions) refuses any UPDATE or
DELETE of an approved row, and the service checks first so the error is a clear one.
Audit rows are refused any UPDATE or DELETE at all. Neither table has foreign keys to
users or reports: a deleted user or a purged job must not rewrite the history (an
`ON DELETE SET NULL` would be an UPDATE the triggers refuse); the actor's id and e-mail
are copied into the row instead.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.jobs.models import utcnow
from cerflow.store.base import Base
from cerflow.store.models import BigId


class VersionState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"


class AuditAction(StrEnum):
    GENERATED = "generated"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    DOWNLOADED = "downloaded"


class ReportVersion(Base):
    __tablename__ = "report_versions"
    __table_args__ = (
        UniqueConstraint("product_kind", "product_ref", "number", name="uq_report_versions_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_kind: Mapped[str] = mapped_column(String(8))
    product_ref: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    # The report's id (the job id for API reports; the facts' report id for the CLI).
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default=VersionState.DRAFT.value)
    title: Mapped[str] = mapped_column(String(300))
    facts_sha256: Mapped[str] = mapped_column(String(64))
    facts: Mapped[dict[str, Any]] = mapped_column()
    # section id -> {"title": ..., "text": ...} (the template text, before any LLM polish)
    narrative: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The data snapshots (ids and sha256) the facts were computed from.
    snapshots: Mapped[list[Any]] = mapped_column(default=list)
    generated_by_id: Mapped[int | None] = mapped_column(BigId)
    generated_by: Mapped[str] = mapped_column(String(320))
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(BigId)
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approval_note: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_version", "version_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(320))  # e-mail, or "cli:<login>"
    version_id: Mapped[int | None] = mapped_column(BigId)
    report_id: Mapped[str | None] = mapped_column(String(64))
    product_kind: Mapped[str | None] = mapped_column(String(8))
    product_ref: Mapped[str | None] = mapped_column(String(255))
    facts_sha256: Mapped[str | None] = mapped_column(String(64))
    snapshots: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
