"""Keyed upserts of recalls and devices: few rows (thousands), so one plain upsert each.

    load_recalls(engine, recalls, provenance, *, source_stats=None, progress=None) -> LoadStats
    load_devices(engine, devices, provenance, *, source_stats=None, progress=None) -> LoadStats

One transaction per call, starting with a snapshot row; a record is keyed by (source,
recall_number) or (source, source_uuid) and rewritten only when its content hash changed,
so importing the same answer twice changes nothing. Reports go through `etl.load_reports`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, insert, select, update

from cerflow.etl.load_common import LoadStats, Progress, batches, finish_snapshot, insert_snapshot
from cerflow.etl.records import CanonicalDevice, CanonicalRecall
from cerflow.sources.base import Provenance
from cerflow.store.models import Device, Recall

__all__ = ["load_devices", "load_recalls"]


def _upsert_simple(
    engine: Engine,
    records: Iterable[Any],
    provenance: Provenance,
    *,
    model: type[Recall] | type[Device],
    key_fields: tuple[str, str],
    to_row: Callable[[Any], dict[str, Any]],
    source_stats: dict[str, Any] | None,
    progress: Progress | None,
) -> LoadStats:
    """Recalls and devices are few (thousands); a plain keyed upsert is fast enough."""
    stats = LoadStats()
    reasons: Counter[str] = Counter()
    k1, k2 = key_fields
    col1, col2 = getattr(model, k1), getattr(model, k2)
    with engine.begin() as conn:
        stats.snapshot_id = insert_snapshot(conn, provenance, source_stats)
        for batch in batches(records, 500):
            stats.read += len(batch)
            latest: dict[tuple[str, str], Any] = {}
            for rec in batch:
                key = (getattr(rec, k1), getattr(rec, k2))
                if not key[1]:
                    reasons[f"missing {k2}"] += 1
                    continue
                if key in latest:
                    stats.unchanged += 1
                latest[key] = rec
            existing: dict[tuple[str, str], tuple[int, str]] = {}
            for a, b in latest:
                row = conn.execute(
                    select(model.id, model.content_hash).where(col1 == a).where(col2 == b)
                ).first()
                if row is not None:
                    existing[(a, b)] = (int(row[0]), str(row[1]))
            for key, rec in latest.items():
                values = to_row(rec)
                values["content_hash"] = rec.content_hash()
                values["snapshot_id"] = stats.snapshot_id
                found = existing.get(key)
                if found is None:
                    conn.execute(insert(model).values(**values))
                    stats.inserted += 1
                elif found[1] == values["content_hash"]:
                    stats.unchanged += 1
                else:
                    conn.execute(update(model).where(model.id == found[0]).values(**values))
                    stats.updated += 1
            if progress:
                progress(len(batch))
        stats.rejected = sum(reasons.values())
        stats.reject_reasons = dict(reasons)
        finish_snapshot(conn, stats, source_stats)
    return stats


def _recall_row(rec: CanonicalRecall) -> dict[str, Any]:
    return {
        "source": rec.source,
        "recall_number": rec.recall_number,
        "product_type": rec.product_type,
        "classification": rec.classification,
        "reason": rec.reason,
        "status": rec.status,
        "firm": rec.firm,
        "product_description": rec.product_description,
        "product_codes": list(rec.product_codes),
        "product_keys": list(rec.product_keys),
        "report_date": rec.report_date,
        "initiation_date": rec.initiation_date,
        "classification_date": rec.classification_date,
        "termination_date": rec.termination_date,
        "distribution": rec.distribution,
        "country": rec.country,
    }


def _device_row(dev: CanonicalDevice) -> dict[str, Any]:
    return {
        "source": dev.source,
        "source_uuid": dev.source_uuid,
        "udi_di": dev.udi_di,
        "basic_udi_di": dev.basic_udi_di,
        "trade_name": dev.trade_name,
        "model": dev.model,
        "risk_class": dev.risk_class,
        "manufacturer_name": dev.manufacturer_name,
        "manufacturer_srn": dev.manufacturer_srn,
        "status": dev.status,
        "product_codes": list(dev.product_codes),
        "raw": dict(dev.raw),
    }


def load_recalls(
    engine: Engine,
    recalls: Iterable[CanonicalRecall],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """Upsert recalls keyed by (source, recall_number)."""
    return _upsert_simple(
        engine,
        recalls,
        provenance,
        model=Recall,
        key_fields=("source", "recall_number"),
        to_row=_recall_row,
        source_stats=source_stats,
        progress=progress,
    )


def load_devices(
    engine: Engine,
    devices: Iterable[CanonicalDevice],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """Upsert devices keyed by (source, source_uuid)."""
    return _upsert_simple(
        engine,
        devices,
        provenance,
        model=Device,
        key_fields=("source", "source_uuid"),
        to_row=_device_row,
        source_stats=source_stats,
        progress=progress,
    )
