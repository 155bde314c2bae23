"""openFDA drug label records -> `CanonicalLabel`, and their keyed load into `drug_labels`.

    label = label_to_canonical(doc, location=url)
    stats = load_labels(engine, [label], provenance, source_stats=...)

The mapping (fields as in openFDA's `druglabel_schema.json`):
- identity: `set_id` (required; the key), `id` (the SPL document id), `version` (an
  integer in a string), `effective_time` (YYYYMMDD -> a date);
- names: `openfda.brand_name`, `openfda.generic_name` (lists; upper-cased as openFDA
  gives them); the product key is `cerflow.store.keys.drug_key` of the first generic
  name (else the first brand name), the same key the adverse-event reports carry, so
  `ATORVASTATIN CALCIUM` -> `ATORVASTATIN`;
- text: the safety sections the labelled-status check reads (`SAFETY_SECTIONS`), each a
  list of strings; other sections are not kept.
A record without a set id, or with a field of the wrong type, raises `SourceFormatError`
naming the URL or file and the field; `load_labels` stores nothing then.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select, update

from cerflow.etl.load_common import LoadStats, Progress, finish_snapshot, insert_snapshot
from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.store.keys import drug_key
from cerflow.store.labels import DrugLabel

__all__ = ["SAFETY_SECTIONS", "CanonicalLabel", "label_to_canonical", "load_labels"]

SAFETY_SECTIONS = (
    "boxed_warning",
    "warnings_and_cautions",
    "warnings",
    "precautions",
    "general_precautions",
    "adverse_reactions",
)


@dataclass(frozen=True, slots=True)
class CanonicalLabel:
    source: str  # openfda_label
    set_id: str
    label_id: str | None
    version: int | None
    effective_date: dt.date | None
    product_key: str
    brand_names: list[str] = field(default_factory=list)
    generic_names: list[str] = field(default_factory=list)
    sections: dict[str, list[str]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        brand = ", ".join(self.brand_names)
        generic = ", ".join(self.generic_names)
        if brand and generic:
            return f"{brand} ({generic})"
        return brand or generic or self.product_key

    def content_hash(self) -> str:
        payload = {
            "set_id": self.set_id,
            "label_id": self.label_id,
            "version": self.version,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "product_key": self.product_key,
            "brand_names": self.brand_names,
            "generic_names": self.generic_names,
            "sections": self.sections,
        }
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _strings(doc: dict[str, Any], key: str, where: str, path: str) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceFormatError("expected a list of strings", location=where, field=path)
    return [" ".join(v.split()) for v in value if v.strip()]


def _date(value: Any, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    text = str(value).strip().replace("-", "")
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise SourceFormatError(
            f"effective_time {value!r} is not a YYYYMMDD date",
            location=where,
            field="effective_time",
        ) from None


def label_to_canonical(doc: Any, *, location: str) -> CanonicalLabel:
    """One openFDA label record -> `CanonicalLabel` (see the module docstring)."""
    if not isinstance(doc, dict):
        raise SourceFormatError("label record is not a JSON object", location=location)
    set_id = doc.get("set_id")
    if not isinstance(set_id, str) or not set_id.strip():
        raise SourceFormatError("label record has no set_id", location=location, field="set_id")
    where = f"{location} set_id={set_id}"
    version_raw = doc.get("version")
    try:
        version = int(str(version_raw)) if version_raw not in (None, "") else None
    except ValueError:
        raise SourceFormatError(
            f"version {version_raw!r} is not an integer", location=where, field="version"
        ) from None
    label_id = doc.get("id")
    openfda = doc.get("openfda") or {}
    if not isinstance(openfda, dict):
        raise SourceFormatError("expected an object", location=where, field="openfda")
    brands = _strings(openfda, "brand_name", where, "openfda.brand_name")
    generics = _strings(openfda, "generic_name", where, "openfda.generic_name")
    key = drug_key(generics[0] if generics else brands[0] if brands else "")
    if not key:
        raise SourceFormatError(
            "label names no generic or brand name (openfda.generic_name / brand_name), so it "
            "cannot be linked to a drug",
            location=where,
            field="openfda.generic_name",
        )
    sections = {
        name: texts for name in SAFETY_SECTIONS if (texts := _strings(doc, name, where, name))
    }
    return CanonicalLabel(
        source="openfda_label",
        set_id=set_id.strip(),
        label_id=str(label_id) if label_id else None,
        version=version,
        effective_date=_date(doc.get("effective_time"), where),
        product_key=key,
        brand_names=brands,
        generic_names=generics,
        sections=sections,
    )


def load_labels(
    engine: Engine,
    labels: Iterable[CanonicalLabel],
    provenance: Provenance,
    *,
    source_stats: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """Upsert labels by set id in one transaction that starts with a snapshot row.

    A stored label is rewritten only when its content changed (a new version); importing
    the same answer twice changes nothing but records a second snapshot.
    """
    stats = LoadStats()
    with engine.begin() as conn:
        stats.snapshot_id = insert_snapshot(conn, provenance, source_stats)
        for label in labels:
            stats.read += 1
            values: dict[str, Any] = {
                "source": label.source,
                "set_id": label.set_id,
                "label_id": label.label_id,
                "version": label.version,
                "effective_date": label.effective_date,
                "product_key": label.product_key,
                "title": label.title,
                "brand_names": list(label.brand_names),
                "generic_names": list(label.generic_names),
                "sections": dict(label.sections),
                "content_hash": label.content_hash(),
                "snapshot_id": stats.snapshot_id,
            }
            found = conn.execute(
                select(DrugLabel.id, DrugLabel.content_hash).where(DrugLabel.set_id == label.set_id)
            ).first()
            if found is None:
                conn.execute(insert(DrugLabel).values(**values))
                stats.inserted += 1
            elif found[1] == values["content_hash"]:
                stats.unchanged += 1
            else:
                conn.execute(update(DrugLabel).where(DrugLabel.id == found[0]).values(**values))
                stats.updated += 1
            if progress:
                progress(1)
        finish_snapshot(conn, stats, source_stats)
    return stats
