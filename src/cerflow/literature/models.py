"""Literature review tables (issue 14).

- `literature_protocols`: the search protocol of a product, versioned: every change is a
  new row with the next `version`; rows are never updated.
- `literature_searches`: one run of a protocol version: counts per database (total,
  fetched, capped, notes), deduplication counts per rule, provenance of every request.
- `literature_records`: the records a search fetched, normalized; a duplicate points at the
  record kept (`duplicate_of_id`) with the rule that matched it.
- `literature_screening_decisions`: human screening decisions, append-only (a change of
  mind is a new row; the newest row of a (record, stage) is current); written by
  `literature.screening`. A row carried over from an earlier search's matching record says
  so (`carried_over`, `carried_from_id`) and keeps the original decider and time.
- `literature_screening_suggestions`: LLM suggestions, kept apart from the decisions so a
  suggestion can never count as one; a human confirms it (a decision with
  `llm_suggested`) or overrides it.
- `literature_appraisals`: MEDDEV 2.7/1 rev 4 A6 appraisals of included records
  (append-only; newest row wins), with the safety findings extracted from each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.store.base import Base, PortableJSON
from cerflow.store.models import BigId


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LiteratureProtocol(Base):
    __tablename__ = "literature_protocols"
    __table_args__ = (UniqueConstraint("product_kind", "product_ref", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_kind: Mapped[str] = mapped_column(String(8))
    product_ref: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON)  # validated SearchProtocol
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class LiteratureSearch(Base):
    __tablename__ = "literature_searches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    protocol_id: Mapped[int] = mapped_column(
        ForeignKey("literature_protocols.id", ondelete="RESTRICT"), index=True
    )
    product_kind: Mapped[str] = mapped_column(String(8))
    product_ref: Mapped[str] = mapped_column(String(255))
    counts: Mapped[dict[str, Any]] = mapped_column(PortableJSON)  # per database + dedup
    provenance: Mapped[list[Any]] = mapped_column(PortableJSON)
    identified: Mapped[int] = mapped_column(Integer)
    duplicates_removed: Mapped[int] = mapped_column(Integer)
    unique_records: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_email: Mapped[str] = mapped_column(String(320))


class LiteratureRecordRow(Base):
    __tablename__ = "literature_records"
    __table_args__ = (
        Index("ix_literature_records_search_pmid", "search_id", "pmid"),
        Index("ix_literature_records_search_doi", "search_id", "doi"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("literature_searches.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # order fetched, across databases
    database: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(64))
    pmid: Mapped[str | None] = mapped_column(String(16))
    pmcid: Mapped[str | None] = mapped_column(String(16))
    doi: Mapped[str | None] = mapped_column(String(255))
    nct_id: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[Any]] = mapped_column(PortableJSON)
    journal: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(Integer)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("literature_records.id", ondelete="SET NULL")
    )
    duplicate_rule: Mapped[str | None] = mapped_column(String(16))  # pmid|pmcid|doi|title_year
    # Citation details (volume, issue, pages) and, for ClinicalTrials.gov, the study's
    # status, dates and posted adverse-event rows: what the report's references and trial
    # table need from the source's own record (migration 0010).
    details: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON, nullable=True)


class LiteratureScreeningDecision(Base):
    """A human screening decision; rows are only ever added (see `literature.screening`)."""

    __tablename__ = "literature_screening_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("literature_records.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))  # title_abstract | full_text
    decision: Mapped[str] = mapped_column(String(8))  # include | exclude
    reason_code: Mapped[str | None] = mapped_column(String(32))  # protocol exclusion code
    note: Mapped[str | None] = mapped_column(Text)
    llm_suggested: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_email: Mapped[str] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    # carried over from the matching record of an earlier search (same decider and time)
    carried_over: Mapped[bool] = mapped_column(Boolean, default=False)
    carried_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("literature_screening_decisions.id", ondelete="SET NULL")
    )
    # the LLM suggestion the human confirmed (llm_suggested) or overrode
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("literature_screening_suggestions.id", ondelete="SET NULL")
    )


class LiteratureScreeningSuggestion(Base):
    """An LLM's screening suggestion: never a decision, shown to a human to confirm.

    An answer that is not a valid suggestion (unknown reason code, not JSON) is stored too,
    with `problem` set, because it was paid for; it is never offered for confirmation."""

    __tablename__ = "literature_screening_suggestions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("literature_records.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(8))  # include | exclude
    reason_code: Mapped[str | None] = mapped_column(String(32))
    rationale: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)  # why the answer was not usable
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_by_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class LiteratureAppraisal(Base):
    """MEDDEV 2.7/1 rev 4 A6 appraisal of an included record (`literature.appraisal`).

    Append-only: a new appraisal of the same record is a new row; the newest (max id) is
    the current one."""

    __tablename__ = "literature_appraisals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("literature_records.id", ondelete="CASCADE"), index=True
    )
    suitability: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    contribution: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    weight: Mapped[int | None] = mapped_column(Integer)
    findings: Mapped[list[Any]] = mapped_column(PortableJSON)  # event, frequency, population
    weight_class: Mapped[str | None] = mapped_column(String(16))  # high | moderate | low
    note: Mapped[str | None] = mapped_column(Text)
    appraised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    appraised_by_email: Mapped[str] = mapped_column(String(320))
    appraised_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
