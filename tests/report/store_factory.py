"""A small store filled through the real loader, with counts a test can work out by hand.

Drug reports (FAERS-like); roles s = suspect, i = interacting, c = concomitant:

    id   received       sex age serious outcome     products           events
    a1   2024-01-10 D   F   50  True    hospital.   ATORVASTATIN s     myalgia, nausea
    a2   2024-01-20 D   M   70  True    death       ATORVASTATIN s     myalgia
    a3   2024-02-05 D   F   60  False   -           ATORVASTATIN i     nausea
    a4   2024-03 (M)    -   -   None    -           ATORVASTATIN s     myalgia, headache
    a5   2024 (Y)       F   30  False   -           ATORVASTATIN s     rash
    c1   2024-04-11 D   F   40  True    life thr.   METFORMIN s,       myalgia
                                                    ATORVASTATIN c
    m1-10 2024-01..04   -   -   False   -           METFORMIN s        nausea 6, headache 3,
                                                                       myalgia 1
    l1   2024-02-02 D   -   -   False   -           LONELY s           (none)

So for ATORVASTATIN: 5 reports (c1 only names it as concomitant), 2 serious, 1 death.
Disproportionality base: reports with a suspect/interacting product and an event: N = 16
(l1 has no event). Myalgia: a = 3, b = 2, c = 2 (c1, m10), d = 9.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from cerflow.etl.load_keyed import load_devices, load_recalls
from cerflow.etl.load_reports import load_reports
from cerflow.etl.records import (
    CanonicalDevice,
    CanonicalEvent,
    CanonicalProduct,
    CanonicalRecall,
    CanonicalReport,
    PartialDate,
)
from cerflow.sources.base import Provenance

PRODUCT_PROV = Provenance(
    source="faers_ascii",
    location="file:///data/faers_2024.zip",
    query="quarter 2024Q1",
    sha256="a" * 64,
)
BACKGROUND_PROV = Provenance(
    source="faers_ascii",
    location="file:///data/faers_bg.zip",
    query="background",
    sha256="b" * 64,
)
RECALL_PROV = Provenance(
    source="openfda:/drug/enforcement.json", location="memory://recalls", sha256="c" * 64
)
DEVICE_PROV = Provenance(source="maude_bulk", location="file:///data/maude.zip", sha256="d" * 64)
EUDAMED_PROV = Provenance(source="eudamed_public", location="memory://eudamed", sha256="e" * 64)

# (a, b, c, d) for ATORVASTATIN x myalgia, counted by hand from the table above:
# a: a1, a2, a4; b: a3, a5; c: c1 and m10 (the one metformin report with myalgia); d: the rest.
MYALGIA_2X2 = (3, 2, 2, 9)


def _day(y: int, m: int, d: int) -> PartialDate:
    return PartialDate(dt.date(y, m, d), "D")


def _rep(
    key: str,
    received: PartialDate | None,
    products: list[CanonicalProduct],
    events: list[str],
    *,
    kind: str = "drug",
    **kw: object,
) -> CanonicalReport:
    return CanonicalReport(
        source="faers" if kind == "drug" else "maude",
        source_key=key,
        kind=kind,  # type: ignore[arg-type]
        received=received,
        products=products,
        events=[
            CanonicalEvent(
                term=e,
                term_raw=e.capitalize(),
                term_type="pt" if kind == "drug" else "device_problem",
            )
            for e in events
        ],
        **kw,  # type: ignore[arg-type]
    )


def _suspect(key: str, role: str = "suspect", seq: int = 0) -> CanonicalProduct:
    return CanonicalProduct(role=role, product_key=key, raw_name=key.title(), seq=seq)  # type: ignore[arg-type]


def product_reports() -> list[CanonicalReport]:
    atv = _suspect("ATORVASTATIN")
    return [
        _rep(
            "a1",
            _day(2024, 1, 10),
            [atv],
            ["myalgia", "nausea"],
            sex="F",
            age_years=50.0,
            serious=True,
            hospitalization=True,
            country="US",
        ),
        _rep(
            "a2",
            _day(2024, 1, 20),
            [atv],
            ["myalgia"],
            sex="M",
            age_years=70.0,
            serious=True,
            death=True,
            country="US",
        ),
        _rep(
            "a3",
            _day(2024, 2, 5),
            [_suspect("ATORVASTATIN", "interacting")],
            ["nausea"],
            sex="F",
            age_years=60.0,
            serious=False,
            country="GB",
        ),
        _rep("a4", PartialDate(dt.date(2024, 3, 1), "M"), [atv], ["myalgia", "headache"]),
        _rep(
            "a5",
            PartialDate(dt.date(2024, 1, 1), "Y"),
            [atv],
            ["rash"],
            sex="F",
            age_years=30.0,
            serious=False,
        ),
    ]


def background_reports() -> list[CanonicalReport]:
    out = [
        _rep(
            "c1",
            _day(2024, 4, 11),
            [_suspect("METFORMIN"), _suspect("ATORVASTATIN", "concomitant", 1)],
            ["myalgia"],
            sex="F",
            age_years=40.0,
            serious=True,
            life_threatening=True,
        ),
    ]
    for i in range(1, 11):
        term = "nausea" if i <= 6 else "headache"
        events = [term] if i < 10 else ["myalgia"]
        out.append(
            _rep(
                f"m{i}", _day(2024, 1 + (i % 4), 3), [_suspect("METFORMIN")], events, serious=False
            )
        )
    out.append(_rep("l1", _day(2024, 2, 2), [_suspect("LONELY")], [], serious=False))
    return out


def device_reports() -> list[CanonicalReport]:
    def dev(code: str, brand: str, maker: str = "Pump Co") -> CanonicalProduct:
        return CanonicalProduct(
            role="device",
            product_key=brand,
            brand_name=brand,
            product_code=code,
            manufacturer=maker,
        )

    return [
        _rep(
            "d1",
            _day(2024, 1, 5),
            [dev("LZG", "PUMPX")],
            ["occlusion"],
            kind="device",
            event_type="malfunction",
            serious=False,
        ),
        _rep(
            "d2",
            _day(2024, 2, 5),
            [dev("LZG", "PUMPX")],
            ["occlusion", "alarm"],
            kind="device",
            event_type="injury",
            serious=True,
            required_intervention=True,
        ),
        _rep(
            "d3",
            _day(2024, 3, 5),
            [dev("LZG", "PUMPY", "Other Co")],
            ["alarm"],
            kind="device",
            event_type="malfunction",
            serious=False,
        ),
        _rep(
            "d4",
            _day(2024, 3, 9),
            [dev("DQA", "OXI")],
            ["alarm"],
            kind="device",
            event_type="malfunction",
            serious=False,
        ),
    ]


def recalls() -> list[CanonicalRecall]:
    return [
        CanonicalRecall(
            source="drug_enforcement",
            recall_number="D-0001-2024",
            product_type="drug",
            classification="II",
            product_keys=["ATORVASTATIN"],
            report_date=dt.date(2024, 2, 14),
            status="Ongoing",
            firm="Statin Inc",
            reason="Foreign tablets",
        ),
        CanonicalRecall(
            source="drug_enforcement",
            recall_number="D-0002-2024",
            product_type="drug",
            classification="I",
            product_keys=["METFORMIN"],
            report_date=dt.date(2024, 3, 1),
        ),
        CanonicalRecall(
            source="device_recall",
            recall_number="Z-0003-2024",
            product_type="device",
            classification="I",
            product_codes=["LZG"],
            report_date=dt.date(2024, 3, 2),
            firm="Pump Co",
            reason="Free flow",
        ),
    ]


def eudamed_devices() -> list[CanonicalDevice]:
    return [
        CanonicalDevice(
            source="eudamed_public",
            source_uuid="u-1",
            udi_di="0123456789012",
            basic_udi_di="BUDI-PUMPX",
            trade_name="PUMPX",
            risk_class="IIb",
            manufacturer_name="Pump Co",
            manufacturer_srn="DE-MF-000001234",
            status="On the market",
            product_codes=["LZG"],
        ),
        CanonicalDevice(
            source="eudamed_public",
            source_uuid="u-2",
            trade_name="OXI",
            risk_class="IIa",
            product_codes=["DQA"],
        ),
    ]


def fill(engine: Engine) -> None:
    load_reports(engine, product_reports(), PRODUCT_PROV)
    load_reports(engine, background_reports(), BACKGROUND_PROV)
    load_reports(engine, device_reports(), DEVICE_PROV)
    load_recalls(engine, recalls(), RECALL_PROV)
    load_devices(engine, eudamed_devices(), EUDAMED_PROV)
