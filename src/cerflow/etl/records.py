"""Canonical records produced by the ETL, independent of the database layer.

Plain dataclasses so parsers stay fast and testable; `etl.load_reports` and `etl.load_keyed`
turn them into rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["suspect", "concomitant", "interacting", "device"]
Precision = Literal["Y", "M", "D"]
TermType = Literal["pt", "device_problem", "patient_problem"]


@dataclass(slots=True)
class PartialDate:
    """A date with the precision the source gave (FAERS often reports only YYYY or YYYYMM).

    `value` is the first day of the period so it sorts and buckets by month correctly.
    """

    value: dt.date
    precision: Precision


@dataclass(slots=True)
class CanonicalProduct:
    role: Role
    product_key: str
    raw_name: str | None = None
    seq: int = 0
    product_code: str | None = None
    brand_name: str | None = None
    manufacturer: str | None = None
    route: str | None = None
    udi_di: str | None = None


@dataclass(slots=True)
class CanonicalEvent:
    term: str  # case-folded
    term_raw: str | None = None
    term_type: TermType = "pt"


# The seriousness criteria, as `CanonicalReport` fields and store columns, in that order.
SERIOUSNESS_FLAGS = (
    "death",
    "life_threatening",
    "hospitalization",
    "disability",
    "congenital_anomaly",
    "required_intervention",
    "other_serious",
)


@dataclass(slots=True)
class CanonicalReport:
    source: str  # faers | maude
    source_key: str  # FAERS caseid, MAUDE mdr_report_key
    kind: Literal["drug", "device"]
    source_version: int = 0
    source_record_id: str | None = None
    received: PartialDate | None = None
    event: PartialDate | None = None
    country: str | None = None
    sex: Literal["F", "M"] | None = None
    age_years: float | None = None
    serious: bool | None = None
    death: bool = False
    life_threatening: bool = False
    hospitalization: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    required_intervention: bool = False
    other_serious: bool = False
    event_type: str | None = None
    reporter_type: str | None = None
    narrative: str | None = None
    products: list[CanonicalProduct] = field(default_factory=list)
    events: list[CanonicalEvent] = field(default_factory=list)

    def content_hash(self) -> str:
        """Stable hash of the content: an unchanged re-import is detected and skipped.

        Computed on every imported report, so it avoids `asdict` (a deep copy that cost more
        than the rest of the import). The serialization is specified in `report_hash_text`
        so a columnar import path can reproduce it exactly.
        """
        return hashlib.sha256(report_hash_text(self).encode()).hexdigest()


@dataclass(slots=True)
class CanonicalRecall:
    source: str  # device_recall | device_enforcement | drug_enforcement
    recall_number: str
    product_type: Literal["drug", "device"]
    classification: str | None = None  # I | II | III
    reason: str | None = None
    status: str | None = None
    firm: str | None = None
    product_description: str | None = None
    product_codes: list[str] = field(default_factory=list)
    product_keys: list[str] = field(default_factory=list)
    report_date: dt.date | None = None
    initiation_date: dt.date | None = None
    classification_date: dt.date | None = None
    termination_date: dt.date | None = None
    distribution: str | None = None
    country: str | None = None

    def content_hash(self) -> str:
        return _stable_hash(asdict(self))


@dataclass(slots=True)
class CanonicalDevice:
    source: str  # eudamed_public | eudamed_datalake | gudid
    source_uuid: str
    udi_di: str | None = None
    basic_udi_di: str | None = None
    trade_name: str | None = None
    model: str | None = None
    risk_class: str | None = None
    manufacturer_name: str | None = None
    manufacturer_srn: str | None = None
    status: str | None = None
    product_codes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def content_hash(self) -> str:
        return _stable_hash(asdict(self))


def _default(obj: Any) -> Any:
    if isinstance(obj, dt.date | dt.datetime):
        return obj.isoformat()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


def _stable_hash(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- report content hash -------------------------------------------------------------
# Fields joined by US (\x1f); products and events are records joined by RS (\x1e); the
# three groups (report, products, events) joined by GS (\x1d). None is NUL (\x00), booleans
# "1"/"0", floats as integer thousandths, dates ISO. Children keep their order.
_US, _RS, _GS, _NULL = "\x1f", "\x1e", "\x1d", "\x00"


def hash_field(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(round(value * 1000))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def report_hash_text(rep: CanonicalReport) -> str:
    """The exact text whose sha256 is `CanonicalReport.content_hash()`."""
    r = rep.received
    e = rep.event
    head = (
        rep.source,
        rep.source_key,
        rep.kind,
        rep.source_version,
        rep.source_record_id,
        r.value if r else None,
        r.precision if r else None,
        e.value if e else None,
        e.precision if e else None,
        rep.country,
        rep.sex,
        rep.age_years,
        rep.serious,
        rep.death,
        rep.life_threatening,
        rep.hospitalization,
        rep.disability,
        rep.congenital_anomaly,
        rep.required_intervention,
        rep.other_serious,
        rep.event_type,
        rep.reporter_type,
        rep.narrative,
    )
    products = _RS.join(
        _US.join(
            hash_field(v)
            for v in (
                p.role,
                p.product_key,
                p.raw_name,
                p.seq,
                p.product_code,
                p.brand_name,
                p.manufacturer,
                p.route,
                p.udi_di,
            )
        )
        for p in rep.products
    )
    events = _RS.join(
        _US.join(hash_field(v) for v in (ev.term, ev.term_raw, ev.term_type)) for ev in rep.events
    )
    return _GS.join((_US.join(hash_field(v) for v in head), products, events))
