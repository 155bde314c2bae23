"""What both loaders share: `LoadStats`, the snapshot row, and the stored column orders.

The report loader (`etl.load_reports`) and the keyed upserts for recalls and devices
(`etl.load_keyed`) each open one transaction per import that starts with a snapshot row and
ends with its counts; the report row and product row tuples are spelled once here so the
frames the report loader builds match the tables' column order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, insert, select, update

from cerflow.etl.records import SERIOUSNESS_FLAGS, CanonicalProduct, CanonicalReport
from cerflow.sources.base import Provenance
from cerflow.store.models import SourceSnapshot

T = TypeVar("T")
Progress = Callable[[int], None]

REPORT_COLUMNS = (
    "id",
    "source",
    "source_key",
    "source_version",
    "source_record_id",
    "kind",
    "received_date",
    "received_precision",
    "event_date",
    "event_precision",
    "country",
    "sex",
    "age_years",
    "serious",
    *SERIOUSNESS_FLAGS,
    "event_type",
    "reporter_type",
    "narrative",
    "content_hash",
    "snapshot_id",
)
PRODUCT_COLUMNS = (
    "report_id",
    "seq",
    "role",
    "product_key",
    "raw_name",
    "product_code",
    "brand_name",
    "manufacturer",
    "route",
    "udi_di",
)
EVENT_COLUMNS = ("report_id", "term", "term_raw", "term_type")


@dataclass(slots=True)
class LoadStats:
    """What an import did; shown in the CLI summary and kept on the snapshot row."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0  # stored reports removed because the source lists them as deleted
    snapshot_id: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "deleted": self.deleted,
            "reject_reasons": dict(self.reject_reasons),
        }


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, in order (the last one may be shorter)."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def insert_snapshot(
    conn: Connection, provenance: Provenance, source_stats: dict[str, Any] | None
) -> int:
    """The snapshot row every import starts with; its counts come at the end."""
    result = conn.execute(
        insert(SourceSnapshot).returning(SourceSnapshot.id),
        {
            "source": provenance.source,
            "location": provenance.location,
            "query": provenance.query,
            "retrieved_at": provenance.retrieved_at,
            "record_count": 0,
            "sha256": provenance.sha256,
            "is_generated": provenance.is_generated,
            "stats": {"source": source_stats or {}},
        },
    )
    return int(result.scalar_one())


def finish_snapshot(
    conn: Connection, stats: LoadStats, source_stats: dict[str, Any] | None
) -> None:
    """Record the final counts (and a paged import's checksum) on the snapshot row."""
    values: dict[str, Any] = {
        "record_count": stats.read,
        "stats": {"source": source_stats or {}, "load": stats.as_dict()},
    }
    # Paged API imports only know their checksum (over all pages) once the last page is in.
    pages_sha256 = (source_stats or {}).get("pages_sha256")
    if pages_sha256:
        current = conn.execute(
            select(SourceSnapshot.sha256).where(SourceSnapshot.id == stats.snapshot_id)
        ).scalar_one()
        if not current:
            values["sha256"] = str(pages_sha256)
    conn.execute(
        update(SourceSnapshot).where(SourceSnapshot.id == stats.snapshot_id).values(**values)
    )


def report_values(rid: int, rep: CanonicalReport, digest: str) -> tuple[Any, ...]:
    """A report's stored values in `REPORT_COLUMNS` order, up to `content_hash` (the snapshot
    id is the loader's); the report loader's frames are built from this tuple."""
    r, e = rep.received, rep.event
    return (
        rid,
        rep.source,
        rep.source_key,
        rep.source_version,
        rep.source_record_id,
        rep.kind,
        r.value if r else None,
        r.precision if r else None,
        e.value if e else None,
        e.precision if e else None,
        rep.country,
        rep.sex,
        rep.age_years,
        rep.serious,
        *(getattr(rep, f) for f in SERIOUSNESS_FLAGS),
        rep.event_type,
        rep.reporter_type,
        rep.narrative,
        digest,
    )


def product_row(rid: int, p: CanonicalProduct) -> tuple[Any, ...]:
    """A product's stored values in `PRODUCT_COLUMNS` order."""
    return (
        rid,
        p.seq,
        p.role,
        p.product_key,
        p.raw_name,
        p.product_code,
        p.brand_name,
        p.manufacturer,
        p.route,
        p.udi_di,
    )
