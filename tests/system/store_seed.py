"""A small device store with a planted signal, so report jobs run in seconds.

Product code PSG has "thermal burn" in 30 of its 40 reports; the background codes have
it in 2 of 300: a disproportionality signal by any method. Counts are known by
construction, which is what the tests check against.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from cerflow.etl.load_reports import load_reports
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, CanonicalReport, PartialDate
from cerflow.sources.base import Provenance

SIGNAL_CODE = "PSG"
SIGNAL_TERM = "thermal burn"


def _report(key: str, code: str, term: str, month: int) -> CanonicalReport:
    return CanonicalReport(
        source="maude",
        source_key=key,
        kind="device",
        received=PartialDate(dt.date(2023, 1 + month % 12, 1 + month % 27), "D"),
        serious=True,
        event_type="Injury",
        products=[
            CanonicalProduct(
                role="suspect",
                product_key=code,
                product_code=code,
                brand_name=f"Brand {code}",
                manufacturer=f"Maker {code}",
            )
        ],
        events=[CanonicalEvent(term=term, term_raw=term.title())],
    )


def planted_reports(prefix: str, *, signal: bool = True) -> list[CanonicalReport]:
    out = []
    for i in range(40):
        term = SIGNAL_TERM if (signal and i < 30) else "device malfunction"
        out.append(_report(f"{prefix}-p{i}", SIGNAL_CODE, term, i))
    for c, code in enumerate(("BGA", "BGB", "BGC")):
        for i in range(100):
            term = SIGNAL_TERM if (c == 0 and i < 2) else ("device malfunction", "pain")[i % 2]
            out.append(_report(f"{prefix}-{code}{i}", code, term, i))
    return out


def seed(engine: Engine, prefix: str = "seed", *, signal: bool = True) -> None:
    prov = Provenance(source="maude_bulk", location="tests/system/store_seed.py", is_generated=True)
    load_reports(engine, planted_reports(prefix, signal=signal), prov)
