"""Canonical adverse-event data model shared by every source.

One `Report` per deduplicated case (FAERS caseid, MAUDE mdr_report_key), keyed by
(source, source_key) so imports are idempotent upserts. Products and events hang off the
report; recalls and devices stand alone. Every row points at the `SourceSnapshot` it came
from, so a number in a CER can be traced back to a query or file and its checksum.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cerflow.store.base import Base

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SourceSnapshot(Base):
    """Provenance of one fetch or file import."""

    __tablename__ = "source_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    location: Mapped[str] = mapped_column(Text)  # URL or file path
    query: Mapped[str | None] = mapped_column(Text)
    retrieved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    is_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("source", "source_key"),
        Index("ix_reports_received_date", "received_date"),
        Index("ix_reports_kind_received", "kind", "received_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # faers | maude
    source_key: Mapped[str] = mapped_column(String(64))  # caseid | mdr_report_key
    source_version: Mapped[int] = mapped_column(Integer, default=0)  # caseversion
    source_record_id: Mapped[str | None] = mapped_column(String(64))  # primaryid / report_number
    kind: Mapped[str] = mapped_column(String(8))  # drug | device
    received_date: Mapped[dt.date | None] = mapped_column(Date)
    received_precision: Mapped[str | None] = mapped_column(String(1))  # Y | M | D
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    event_precision: Mapped[str | None] = mapped_column(String(1))
    country: Mapped[str | None] = mapped_column(String(64))
    sex: Mapped[str | None] = mapped_column(String(1))  # F | M
    age_years: Mapped[float | None] = mapped_column(Float)
    serious: Mapped[bool | None] = mapped_column(Boolean)
    death: Mapped[bool] = mapped_column(Boolean, default=False)
    life_threatening: Mapped[bool] = mapped_column(Boolean, default=False)
    hospitalization: Mapped[bool] = mapped_column(Boolean, default=False)
    disability: Mapped[bool] = mapped_column(Boolean, default=False)
    congenital_anomaly: Mapped[bool] = mapped_column(Boolean, default=False)
    required_intervention: Mapped[bool] = mapped_column(Boolean, default=False)
    other_serious: Mapped[bool] = mapped_column(Boolean, default=False)
    event_type: Mapped[str | None] = mapped_column(String(16))  # MAUDE: death|injury|malfunction
    reporter_type: Mapped[str | None] = mapped_column(String(64))
    narrative: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_snapshots.id", ondelete="SET NULL")
    )

    products: Mapped[list[ReportProduct]] = relationship(
        back_populates="report", cascade="all, delete-orphan", passive_deletes=True
    )
    events: Mapped[list[ReportEvent]] = relationship(
        back_populates="report", cascade="all, delete-orphan", passive_deletes=True
    )


class ReportProduct(Base):
    __tablename__ = "report_products"
    __table_args__ = (
        Index("ix_report_products_product_key", "product_key", "report_id"),
        # Partial: drug rows have no device code (migration 0005 says why).
        Index(
            "ix_report_products_product_code",
            "product_code",
            "report_id",
            postgresql_where=text("product_code IS NOT NULL"),
            sqlite_where=text("product_code IS NOT NULL"),
        ),
        Index("ix_report_products_report_id", "report_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(16))  # suspect|concomitant|interacting|device
    product_key: Mapped[str] = mapped_column(String(255))
    raw_name: Mapped[str | None] = mapped_column(Text)
    product_code: Mapped[str | None] = mapped_column(String(8))  # FDA device product code
    brand_name: Mapped[str | None] = mapped_column(Text)
    manufacturer: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str | None] = mapped_column(String(64))
    udi_di: Mapped[str | None] = mapped_column(String(64))

    report: Mapped[Report] = relationship(back_populates="products")


class ReportEvent(Base):
    __tablename__ = "report_events"
    __table_args__ = (
        Index("ix_report_events_term", "term", "report_id"),
        Index("ix_report_events_report_id", "report_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    term: Mapped[str] = mapped_column(String(255))  # case-folded
    term_raw: Mapped[str | None] = mapped_column(String(255))
    term_type: Mapped[str] = mapped_column(String(16))  # pt | device_problem | patient_problem

    report: Mapped[Report] = relationship(back_populates="events")


class Recall(Base):
    __tablename__ = "recalls"
    __table_args__ = (
        UniqueConstraint("source", "recall_number"),
        Index("ix_recalls_report_date", "report_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # device_recall|device_enforcement|drug_enf.
    recall_number: Mapped[str] = mapped_column(String(64))
    product_type: Mapped[str] = mapped_column(String(8))  # drug | device
    classification: Mapped[str | None] = mapped_column(String(4))  # I | II | III
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(64))
    firm: Mapped[str | None] = mapped_column(Text)
    product_description: Mapped[str | None] = mapped_column(Text)
    product_codes: Mapped[list[Any]] = mapped_column(default=list)
    product_keys: Mapped[list[Any]] = mapped_column(default=list)  # normalized drug keys
    report_date: Mapped[dt.date | None] = mapped_column(Date)
    initiation_date: Mapped[dt.date | None] = mapped_column(Date)
    classification_date: Mapped[dt.date | None] = mapped_column(Date)
    termination_date: Mapped[dt.date | None] = mapped_column(Date)
    distribution: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_snapshots.id", ondelete="SET NULL")
    )


class Device(Base):
    """A device identified in EUDAMED (or GUDID): UDI-DI, Basic UDI-DI, class, manufacturer."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("source", "source_uuid"),
        Index("ix_devices_udi_di", "udi_di"),
        Index("ix_devices_basic_udi_di", "basic_udi_di"),
        Index("ix_devices_manufacturer_srn", "manufacturer_srn"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # eudamed_public | eudamed_datalake | gudid
    source_uuid: Mapped[str] = mapped_column(String(64))
    udi_di: Mapped[str | None] = mapped_column(String(128))
    basic_udi_di: Mapped[str | None] = mapped_column(String(128))
    trade_name: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    risk_class: Mapped[str | None] = mapped_column(String(16))  # I | IIa | IIb | III | ...
    manufacturer_name: Mapped[str | None] = mapped_column(Text)
    manufacturer_srn: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(64))
    product_codes: Mapped[list[Any]] = mapped_column(default=list)  # FDA codes if known
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_snapshots.id", ondelete="SET NULL")
    )


class SignalReview(Base):
    """A reviewer's decision on a signal of disproportionate reporting (product x event).

    Append-only: a new decision is a new row and the newest counts, so the history of who
    decided what and why stays (a notified body asks how a signal was closed). The report's
    signal table shows the newest decision; refuted signals raise no new alert.
    """

    __tablename__ = "signal_reviews"
    __table_args__ = (
        Index("ix_signal_reviews_product", "product_kind", "product_ref", "event_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_kind: Mapped[str] = mapped_column(String(8))
    product_ref: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(500))  # the term as shown
    event_key: Mapped[str] = mapped_column(String(500))  # casefolded, for matching
    decision: Mapped[str] = mapped_column(String(16))  # validated | refuted | needs_review
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_email: Mapped[str] = mapped_column(String(320))  # kept if the user is deleted
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class ProductClass(Base):
    """A drug's pharmacologic class as openFDA harmonizes it (`openfda.pharm_class_epc`).

    One row per (product key, class type, class); the established pharmacologic class
    (EPC) defines a drug's peers: the other stored products of the same class. Filled from
    ingested openFDA drug event records (and the sample's derived class file); the snapshot
    names the query or file the class was last read from.
    """

    __tablename__ = "product_classes"
    __table_args__ = (
        UniqueConstraint("product_key", "class_type", "class_name"),
        Index("ix_product_classes_class", "class_type", "class_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_key: Mapped[str] = mapped_column(String(255))
    class_type: Mapped[str] = mapped_column(String(8))  # epc (moa, pe, cs possible later)
    class_name: Mapped[str] = mapped_column(String(255))  # "HMG-CoA Reductase Inhibitor [EPC]"
    source: Mapped[str] = mapped_column(String(64))  # openfda:/drug/event.json | sample
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_snapshots.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
