"""Test helper: a handful of reports written through the ORM, with known answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cerflow.store.models import Report, ReportEvent, ReportProduct


def add_report(
    session: Session,
    key: str,
    *,
    kind: str = "drug",
    received: dt.date | None = None,
    precision: str | None = "D",
    products: list[dict[str, Any]] | None = None,
    terms: list[str] | None = None,
    **flags: Any,
) -> Report:
    report = Report(
        source="faers" if kind == "drug" else "maude",
        source_key=key,
        kind=kind,
        received_date=received,
        received_precision=precision if received else None,
        content_hash=key.ljust(64, "0"),
        **flags,
    )
    report.products = [ReportProduct(seq=i, **p) for i, p in enumerate(products or [])]
    report.events = [ReportEvent(term=t, term_raw=t, term_type="pt") for t in terms or []]
    session.add(report)
    return report


def seed_small_store(engine: Engine) -> dict[str, int]:
    """Five drug and three device reports; returns source_key -> report id."""
    d = dt.date
    with Session(engine) as s:
        rows = [
            add_report(
                s,
                "R1",
                received=d(2021, 1, 10),
                serious=True,
                death=True,
                products=[{"role": "suspect", "product_key": "ASPIRIN"}],
                terms=["nausea", "headache"],
            ),
            add_report(
                s,
                "R2",
                received=d(2021, 3, 5),
                serious=False,
                products=[
                    {"role": "suspect", "product_key": "ASPIRIN"},
                    {"role": "concomitant", "product_key": "IBUPROFEN"},
                ],
                terms=["nausea"],
            ),
            add_report(
                s,
                "R3",
                received=d(2021, 1, 1),
                precision="Y",
                serious=True,
                hospitalization=True,
                products=[{"role": "suspect", "product_key": "IBUPROFEN"}],
                terms=["rash"],
            ),
            add_report(
                s,
                "R4",
                received=d(2021, 3, 20),
                serious=True,
                products=[
                    {"role": "concomitant", "product_key": "ASPIRIN"},
                    {"role": "suspect", "product_key": "WARFARIN"},
                ],
                terms=["haemorrhage"],
            ),
            add_report(
                s,
                "R5",
                received=d(2021, 2, 11),
                serious=None,
                products=[{"role": "interacting", "product_key": "ASPIRIN"}],
            ),
            add_report(
                s,
                "D1",
                kind="device",
                received=d(2022, 5, 1),
                event_type="malfunction",
                products=[
                    {
                        "role": "device",
                        "product_key": "PUMP",
                        "product_code": "DQA",
                        "manufacturer": "Acme",
                        "brand_name": "P1",
                    }
                ],
                terms=["device malfunction"],
            ),
            add_report(
                s,
                "D2",
                kind="device",
                received=d(2022, 6, 1),
                event_type="injury",
                serious=True,
                products=[
                    {
                        "role": "device",
                        "product_key": "PUMP",
                        "product_code": "DQA",
                        "manufacturer": "Beta",
                        "brand_name": "P2",
                    }
                ],
                terms=["burn"],
            ),
            add_report(
                s,
                "D3",
                kind="device",
                received=d(2022, 6, 15),
                event_type="injury",
                serious=True,
                products=[
                    {
                        "role": "device",
                        "product_key": "LEAD",
                        "product_code": "LZG",
                        "manufacturer": "Acme",
                        "brand_name": "L1",
                    }
                ],
                terms=["burn"],
            ),
        ]
        s.commit()
        return {r.source_key: r.id for r in rows}
