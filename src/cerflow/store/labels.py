"""Drug labels (openFDA `/drug/label.json`): the text a labelled-status check reads.

    read_label(engine, product_keys) -> dict | None     # the label a report uses

One row per label (FDA set id); a newer version of the same label replaces the stored one
(its content hash changes), so the store holds the label as last fetched. Only the safety
sections the check reads are kept (boxed warning, warnings and precautions, warnings,
precautions, adverse reactions), with the label's identity (set id, version, effective
date) and the snapshot (query, URL, retrieval time, sha256) it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, Engine, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from cerflow.store.base import Base
from cerflow.store.models import BigId, SourceSnapshot


class DrugLabel(Base):
    __tablename__ = "drug_labels"
    __table_args__ = (Index("ix_drug_labels_product_key", "product_key", "effective_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # openfda_label
    set_id: Mapped[str] = mapped_column(String(64), unique=True)
    label_id: Mapped[str | None] = mapped_column(String(64))  # the SPL document id
    version: Mapped[int | None] = mapped_column(Integer)
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    product_key: Mapped[str] = mapped_column(String(255))  # drug key of the generic name
    title: Mapped[str | None] = mapped_column(Text)  # brand (generic), for people
    brand_names: Mapped[list[Any]] = mapped_column(default=list)
    generic_names: Mapped[list[Any]] = mapped_column(default=list)
    sections: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> [texts]
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_snapshots.id", ondelete="SET NULL")
    )


def read_label(engine: Engine, product_keys: Sequence[str]) -> dict[str, Any] | None:
    """The stored label of one of `product_keys` with the latest effective date (then the
    highest version, then set id), with its snapshot's provenance; None when none is stored.
    """
    if not product_keys:
        return None
    stmt = (
        select(
            *DrugLabel.__table__.c,
            SourceSnapshot.source.label("snapshot_source"),
            SourceSnapshot.location,
            SourceSnapshot.query,
            SourceSnapshot.retrieved_at,
            SourceSnapshot.sha256,
            SourceSnapshot.is_generated,
            SourceSnapshot.stats,
        )
        .outerjoin(SourceSnapshot, SourceSnapshot.id == DrugLabel.snapshot_id)
        .where(DrugLabel.product_key.in_(list(product_keys)))
        .order_by(
            DrugLabel.effective_date.desc().nulls_last(),
            DrugLabel.version.desc().nulls_last(),
            DrugLabel.set_id,
        )
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    m = row._mapping
    retrieved = m["retrieved_at"]
    if isinstance(retrieved, dt.datetime) and retrieved.tzinfo is None:
        retrieved = retrieved.replace(tzinfo=dt.UTC)
    return {
        "source": m["source"],
        "set_id": m["set_id"],
        "label_id": m["label_id"],
        "version": m["version"],
        "effective_date": m["effective_date"],
        "product_key": m["product_key"],
        "title": m["title"],
        "brand_names": list(m["brand_names"] or []),
        "generic_names": list(m["generic_names"] or []),
        "sections": dict(m["sections"] or {}),
        "snapshot_id": m["snapshot_id"],
        "location": m["location"],
        "query": m["query"],
        "retrieved_at": retrieved,
        "sha256": m["sha256"],
        "is_generated": bool(m["is_generated"]),
        "derived_from": _derived_from(m["stats"]),
    }


def _derived_from(stats: Any) -> str | None:
    """A bundled label's note of the real label it was derived from (sample only)."""
    source = stats.get("source") if isinstance(stats, dict) else None
    value = source.get("derived_from") if isinstance(source, dict) else None
    return str(value) if value else None
