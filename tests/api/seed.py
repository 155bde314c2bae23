"""A small hand-counted store: device DQA (4 MAUDE reports), device ABC (6), one drug.

Expected figures (counted by hand, used as the oracle by the tests):
- DQA: 4 reports, 2 serious, 1 death, 1 year-only date; months 2023-01: 2, 2023-02: 0,
  2023-03: 1; events hypoxia 3, display issue 2, device alarm failure 1.
- All device reports: 10; hypoxia in 4 of them, display issue in 2.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy.orm import Session, sessionmaker

from cerflow.store.models import (
    Device,
    Recall,
    Report,
    ReportEvent,
    ReportProduct,
    SourceSnapshot,
)
from cerflow.unit_of_work import unit_of_work


def _h(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def add_snapshot(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as s:
        snap = SourceSnapshot(source="test", location="memory", sha256=_h("snap"), record_count=0)
        s.add(snap)
        s.flush()
        return snap.id


def _report(
    s: Session,
    key: str,
    *,
    code: str | None,
    product_key: str,
    brand: str,
    events: list[str],
    received: dt.date | None,
    precision: str | None,
    serious: bool | None,
    death: bool = False,
    event_type: str | None = None,
    kind: str = "device",
    source: str = "maude",
    snapshot_id: int,
) -> None:
    r = Report(
        source=source,
        source_key=key,
        kind=kind,
        received_date=received,
        received_precision=precision,
        serious=serious,
        death=death,
        event_type=event_type,
        content_hash=_h(key),
        snapshot_id=snapshot_id,
    )
    r.products = [
        ReportProduct(
            role="device" if kind == "device" else "suspect",
            product_key=product_key,
            product_code=code,
            brand_name=brand,
            manufacturer="Acme Medical",
        )
    ]
    r.events = [ReportEvent(term=t, term_raw=t, term_type="device_problem") for t in events]
    s.add(r)


def seed_products(factory: sessionmaker[Session]) -> int:
    snap = add_snapshot(factory)
    d = dt.date
    with unit_of_work(factory) as s:
        common = {
            "code": "DQA",
            "product_key": "OXIPULSE",
            "brand": "OxiPulse",
            "snapshot_id": snap,
        }
        _report(
            s,
            "m1",
            events=["hypoxia", "device alarm failure"],
            received=d(2023, 1, 15),
            precision="D",
            serious=True,
            death=True,
            event_type="death",
            **common,
        )
        _report(
            s,
            "m2",
            events=["hypoxia"],
            received=d(2023, 1, 20),
            precision="D",
            serious=True,
            event_type="injury",
            **common,
        )
        _report(
            s,
            "m3",
            events=["hypoxia", "display issue"],
            received=d(2023, 3, 5),
            precision="D",
            serious=False,
            event_type="malfunction",
            **common,
        )
        _report(
            s,
            "m4",
            events=["display issue"],
            received=d(2023, 1, 1),
            precision="Y",
            serious=None,
            **common,
        )
        for i in range(6):
            _report(
                s,
                f"o{i}",
                code="ABC",
                product_key="OTHER",
                brand="Other",
                events=["other"] + (["hypoxia"] if i == 0 else []),
                received=d(2023, 2, 1),
                precision="M",
                serious=False,
                snapshot_id=snap,
            )
        _report(
            s,
            "f1",
            code=None,
            product_key="ADALIMUMAB",
            brand="Humira",
            kind="drug",
            source="faers",
            events=["injection site pain"],
            received=d(2023, 5, 2),
            precision="D",
            serious=False,
            snapshot_id=snap,
        )
        s.add(
            Recall(
                source="device_recall",
                recall_number="Z-0001-2023",
                product_type="device",
                classification="II",
                reason="Alarm may not sound",
                firm="Acme Medical",
                product_codes=["DQA"],
                product_keys=[],
                report_date=d(2023, 4, 1),
                content_hash=_h("z1"),
                snapshot_id=snap,
            )
        )
        s.add(
            Recall(
                source="device_recall",
                recall_number="Z-0002-2023",
                product_type="device",
                classification="I",
                reason="Other",
                firm="Other Inc",
                product_codes=["ABC"],
                product_keys=[],
                report_date=d(2023, 4, 2),
                content_hash=_h("z2"),
                snapshot_id=snap,
            )
        )
        s.add(
            Device(
                source="eudamed_public",
                source_uuid="u-1",
                udi_di="0123456789",
                trade_name="OxiPulse 2",
                risk_class="IIb",
                manufacturer_name="Acme Medical",
                manufacturer_srn="DE-MF-000001",
                product_codes=["DQA"],
                raw={},
                content_hash=_h("dev"),
                snapshot_id=snap,
            )
        )
    return snap
