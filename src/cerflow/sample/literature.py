# ruff: noqa: E501  (the data tables read best one record a line)
"""The demo's literature set for the infusion pump (product code LZG): SYNTHETIC.

A protocol, one search of 18 records across PubMed, Europe PMC and ClinicalTrials.gov
(three Europe PMC records are planted duplicates of PubMed ones: same PMID, same DOI,
same title and year), screening decisions at both stages with reasons, appraisals with
safety findings, and one completed study with posted adverse-event results. Every title
says it is synthetic, the journal is a made-up one, identifiers are out of the real
ranges, and the search's provenance carries ``generated: true`` so the report says so.

Written directly as rows (the screening service lives in `literature.screening`), offline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cerflow.literature.appraisal import overall_weight, parse_appraisal
from cerflow.literature.dedup import deduplicate
from cerflow.literature.models import (
    LiteratureAppraisal,
    LiteratureProtocol,
    LiteratureRecordRow,
    LiteratureScreeningDecision,
    LiteratureSearch,
)
from cerflow.literature.schemas import parse_protocol
from cerflow.sources.literature_base import LiteratureRecord

DEMO_USER = "writer@demo.cerflow.local"
WHEN = dt.datetime(2025, 7, 15, 9, 0, tzinfo=dt.UTC)
JOURNAL = "Synthetic Demo J Infus Ther"
PROTOCOL: dict[str, Any] = {
    "question": {
        "population": "Adults and children receiving intravenous infusion therapy",
        "intervention": "Infusion pump (FDA product code LZG)",
        "comparator": "Other infusion pumps or gravity infusion",
        "outcomes": "Device malfunctions, under- or over-infusion, patient harm",
    },
    "names": ["infusion pump", "volumetric infusion pump"],
    "databases": ["pubmed", "europepmc", "ctgov"],
    "date_from": "2015-01-01",
    "date_to": "2025-06-30",
    "inclusion": [
        {"code": "I1", "text": "Clinical use of an infusion pump in patients"},
        {"code": "I2", "text": "Reports safety outcomes"},
    ],
    "exclusion": [
        {"code": "E1", "text": "Not an infusion pump"},
        {"code": "E2", "text": "No patient safety outcome"},
        {"code": "E3", "text": "Bench or simulation study only"},
        {"code": "E4", "text": "Editorial, letter or narrative review"},
    ],
}

# (database, id, title, authors, year, volume, issue, pages, pmid, doi)
_ARTICLES = [
    (
        "pubmed",
        "90000001",
        "Under-infusion events with volumetric infusion pumps in adult intensive care: a prospective cohort",
        ["Moreau L", "Jansen P", "Ortega R"],
        2021,
        "12",
        "3",
        "145-53",
        "90000001",
        "10.99999/sdjit.2021.001",
    ),
    (
        "pubmed",
        "90000002",
        "Occlusion alarms and delayed therapy with infusion pumps: a multicentre observational study",
        ["Keller A", "Nakamura T", "Silva M", "Berg H", "Okafor C", "Dubois F", "Rossi G"],
        2022,
        "13",
        "1",
        "12-20",
        "90000002",
        "10.99999/sdjit.2022.002",
    ),
    (
        "pubmed",
        "90000003",
        "Infusion pump programming errors in paediatric wards: a randomised comparison of smart and standard pumps",
        ["Andersen K", "Patel S"],
        2020,
        "11",
        "4",
        "201-9",
        "90000003",
        "10.99999/sdjit.2020.003",
    ),
    (
        "pubmed",
        "90000004",
        "Bench evaluation of flow accuracy of volumetric pumps at low rates",
        ["Huang Y", "Fischer B"],
        2019,
        "10",
        "2",
        "77-84",
        "90000004",
        "10.99999/sdjit.2019.004",
    ),
    (
        "pubmed",
        "90000005",
        "Air-in-line alarms and their clinical relevance: a narrative review",
        ["Costa J"],
        2023,
        "14",
        "2",
        "99-104",
        "90000005",
        "10.99999/sdjit.2023.005",
    ),
    (
        "pubmed",
        "90000006",
        "Free-flow and over-infusion incidents after pump replacement: a registry analysis",
        ["Lindqvist E", "Mbeki N", "Grant D"],
        2024,
        "15",
        "1",
        "30-41",
        "90000006",
        "10.99999/sdjit.2024.006",
    ),
    (
        "pubmed",
        "90000007",
        "Enteral feeding pumps and aspiration: a cohort study",
        ["Ivanova O", "Smith R"],
        2021,
        "12",
        "4",
        "260-7",
        "90000007",
        "10.99999/sdjit.2021.007",
    ),
    # Europe PMC: three planted duplicates (PMID, DOI, title + year) and four new records
    (
        "europepmc",
        "MED:90000001",
        "Under-infusion events with volumetric infusion pumps in adult intensive care: a prospective cohort",
        ["Moreau L", "Jansen P", "Ortega R"],
        2021,
        "12",
        "3",
        "145-53",
        "90000001",
        None,
    ),
    (
        "europepmc",
        "MED:90000002x",
        "Occlusion alarms and delayed therapy with infusion pumps: a multicentre observational study",
        ["Keller A", "Nakamura T"],
        2022,
        "13",
        "1",
        "12-20",
        None,
        "10.99999/SDJIT.2022.002",
    ),
    (
        "europepmc",
        "PPR:900003",
        "Infusion pump programming errors in paediatric wards - a randomised comparison of smart and standard pumps",
        ["Andersen K", "Patel S"],
        2020,
        None,
        None,
        None,
        None,
        None,
    ),
    (
        "europepmc",
        "PMC:900011",
        "Home infusion therapy with ambulatory pumps: adverse events over twelve months",
        ["Rahman F", "Ohlsson J", "Weber C"],
        2022,
        "13",
        "3",
        "150-9",
        None,
        "10.99999/sdjit.2022.011",
    ),
    (
        "europepmc",
        "PMC:900012",
        "Infusion pump alarm fatigue in oncology day units: a survey of nurses",
        ["Thompson L"],
        2023,
        "14",
        "1",
        "5-11",
        None,
        "10.99999/sdjit.2023.012",
    ),
    (
        "europepmc",
        "PMC:900013",
        "Syringe pump start-up delay in neonatal intensive care: an observational study",
        ["Nguyen H", "Leclerc M"],
        2024,
        "15",
        "2",
        "88-96",
        None,
        "10.99999/sdjit.2024.013",
    ),
    (
        "europepmc",
        "PMC:900014",
        "Cost analysis of smart pump implementation",
        ["Becker T"],
        2020,
        "11",
        "1",
        "1-6",
        None,
        "10.99999/sdjit.2020.014",
    ),
]
_TRIALS = [
    ("NCT99000001", "Safety of a Volumetric Infusion Pump in Hospitalised Adults (SYNTHETIC)", "COMPLETED", ["PHASE4"], 240, "2023-11", True),
    ("NCT99000002", "Smart Pump Dose Error Reduction in Paediatrics (SYNTHETIC)", "COMPLETED", ["NA"], 180, "2022-06", False),
    ("NCT99000003", "Ambulatory Infusion Pump for Home Parenteral Nutrition (SYNTHETIC)", "RECRUITING", ["NA"], 120, None, False),
    ("NCT99000004", "Wireless Infusion Pump Interoperability Study (SYNTHETIC)", "TERMINATED", ["NA"], 35, "2021-02", False),
]  # fmt: skip
# (index of unique record, title/abstract decision + reason, full-text decision + reason)
_SCREENING: dict[int, tuple[tuple[str, str | None], tuple[str, str | None] | None]] = {
    0: (("include", None), ("include", None)),
    1: (("include", None), ("include", None)),
    2: (("include", None), ("include", None)),
    3: (("exclude", "E3"), None),
    4: (("exclude", "E4"), None),
    5: (("include", None), ("include", None)),
    6: (("exclude", "E1"), None),
    10: (("include", None), ("include", None)),
    11: (("include", None), ("exclude", "E2")),
    12: (("include", None), ("exclude", "E1")),
    13: (("exclude", "E2"), None),
    14: (("include", None), ("include", None)),
    15: (("include", None), ("exclude", "E2")),
    16: (("exclude", "E2"), None),
    17: (("exclude", "E1"), None),
}
# record index -> (grades, findings)
_APPRAISALS: dict[int, tuple[str, list[dict[str, Any]]]] = {
    0: ("D1 A1 P1 R1 T2 O1 F1 S1 C1", [
        {"event": "Insufficient Flow or Under Infusion", "events": 18, "patients": 412, "population": "adults in intensive care"},
        {"event": "Occlusion alarm", "events": 61, "patients": 412, "population": "adults in intensive care"},
    ]),
    1: ("D2 A1 P1 R2 T2 O1 F2 S2 C1", [
        {"event": "Delay in therapy", "events": 23, "patients": 1250, "population": "adult inpatients"},
    ]),
    2: ("D2 A2 P2 R1 T1 O1 F1 S1 C1", [
        {"event": "Medication error", "events": 9, "patients": 300, "population": "children on general wards"},
    ]),
    5: ("D1 A1 P1 R2 T2 O1 F1 S2 C1", [
        {"event": "Free flow", "events": 4, "patients": 2890, "population": "registry, all ages"},
        {"event": "Insufficient Flow or Under Infusion", "events": 11, "patients": 2890, "population": "registry, all ages"},
    ]),
    10: ("D3 A2 P2 R2 T2 O1 F1 S2 C2", [
        {"event": "Catheter occlusion", "events": 7, "patients": 96, "population": "home infusion patients"},
    ]),
    14: ("D1 A1 P1 R1 T1 O1 F1 S1 C1", []),  # the trial: findings are its posted AE table
}  # fmt: skip


def _trial_payload(
    nct: str, title: str, status: str, phases: list[str], n: int, done: str | None, results: bool
) -> dict[str, Any]:
    study: dict[str, Any] = {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "officialTitle": title},
            "statusModule": {
                "overallStatus": status,
                "startDateStruct": {"date": "2020-01"},
                **({"completionDateStruct": {"date": done}} if done else {}),
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Synthetic Device Sponsor"}},
            "designModule": {
                "studyType": "INTERVENTIONAL",
                "phases": phases,
                "enrollmentInfo": {"count": n},
            },
        },
        "hasResults": results,
    }
    if results:
        study["resultsSection"] = {
            "adverseEventsModule": {
                "eventGroups": [
                    {"id": "EG000", "title": "Study pump"},
                    {"id": "EG001", "title": "Standard pump"},
                ],
                "seriousEvents": [
                    {
                        "term": "Insufficient Flow or Under Infusion",
                        "organSystem": "Device",
                        "stats": [
                            {"groupId": "EG000", "numAffected": 3, "numAtRisk": 120},
                            {"groupId": "EG001", "numAffected": 2, "numAtRisk": 120},
                        ],
                    },
                ],
                "otherEvents": [
                    {
                        "term": "Infusion site extravasation",
                        "organSystem": "General disorders",
                        "stats": [
                            {"groupId": "EG000", "numAffected": 6, "numAtRisk": 120},
                            {"groupId": "EG001", "numAffected": 5, "numAtRisk": 120},
                        ],
                    },
                ],
            }
        }
    return study  # fmt: skip


def demo_records() -> list[LiteratureRecord]:
    out = []
    for db, sid, title, authors, year, vol, iss, pages, pmid, doi in _ARTICLES:
        payload: dict[str, Any] = {
            "journalIsoAbbreviation": JOURNAL,
            "journalVolume": vol,
            "issue": iss,
            "pageInfo": pages,
        }
        out.append(
            LiteratureRecord(
                database=db, source_id=sid, title=f"{title} [SYNTHETIC]", pmid=pmid, doi=doi,
                authors=tuple(authors), journal=JOURNAL, year=year, payload=payload,
            )
        )  # fmt: skip
    for nct, title, status, phases, n, done, results in _TRIALS:
        out.append(
            LiteratureRecord(
                database="ctgov", source_id=nct, title=title, nct_id=nct,
                authors=("Synthetic Device Sponsor",), year=2020,
                payload=_trial_payload(nct, title, status, phases, n, done, results),
            )
        )  # fmt: skip
    return out


def _details(rec: LiteratureRecord) -> dict[str, Any] | None:
    from cerflow.literature.details import trial_details

    if rec.database == "ctgov":
        return trial_details(dict(rec.payload))
    p = rec.payload
    return {k: v for k, v in {"journal_abbrev": JOURNAL, "volume": p.get("journalVolume"), "issue": p.get("issue"), "pages": p.get("pageInfo")}.items() if v}  # fmt: skip


def _grades(text: str) -> dict[str, Any]:
    g = text.split()
    keys = ("device", "application", "population", "report")
    ckeys = ("design", "outcomes", "follow_up", "statistics", "clinical_significance")
    return {"suitability": dict(zip(keys, g[:4], strict=True)), "contribution": dict(zip(ckeys, g[4:], strict=True))}  # fmt: skip


def load_demo_literature(engine: Engine, *, product_code: str = "LZG") -> int:
    """Store the synthetic literature set for `product_code`; returns the search id."""
    protocol = parse_protocol(PROTOCOL, "demo literature protocol").model_dump(mode="json")
    records = demo_records()
    dedup = deduplicate(records)
    with Session(engine) as session, session.begin():
        proto = LiteratureProtocol(
            product_kind="device", product_ref=product_code, version=1, data=protocol,
            created_by_email=DEMO_USER, created_at=WHEN,
        )  # fmt: skip
        session.add(proto)
        session.flush()
        by_db: dict[str, int] = {}
        for r in records:
            by_db[r.database] = by_db.get(r.database, 0) + 1
        search = LiteratureSearch(
            protocol_id=proto.id, product_kind="device", product_ref=product_code,
            counts={
                "databases": {
                    db: {"query": protocol["queries"][db], "total": n, "fetched": n, "capped": False,
                         "note": f"{db}: {n} records (synthetic)", "messages": []}
                    for db, n in by_db.items()
                },
                "duplicates_by_rule": dedup.removed_by_rule,
            },
            provenance=[{"source": "cerflow.sample.literature", "generated": True,
                         "statement": "SYNTHETIC literature set for the demo"}],
            identified=dedup.identified, duplicates_removed=dedup.removed,
            unique_records=len(dedup.unique), started_at=WHEN,
            finished_at=WHEN + dt.timedelta(minutes=2), created_by_email=DEMO_USER,
        )  # fmt: skip
        session.add(search)
        session.flush()
        rows = [
            LiteratureRecordRow(
                search_id=search.id, position=i, database=r.database, source_id=r.source_id,
                pmid=r.pmid, doi=r.doi, nct_id=r.nct_id, title=r.title, authors=list(r.authors),
                journal=r.journal, year=r.year, details=_details(r),
            )
            for i, r in enumerate(records)
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        for group in dedup.groups:
            for j in group[1:]:
                rows[j].duplicate_of_id = rows[group[0]].id
                rows[j].duplicate_rule = dedup.rule_of.get(j)
        at = WHEN + dt.timedelta(days=1)
        for i, (ta, ft) in sorted(_SCREENING.items()):
            assert rows[i].duplicate_of_id is None, f"demo screening of duplicate record {i}"
            stages = [("title_abstract", ta)] + ([("full_text", ft)] if ft else [])
            for stage, (decision, reason) in stages:
                at += dt.timedelta(minutes=7)
                session.add(
                    LiteratureScreeningDecision(
                        record_id=rows[i].id, stage=stage, decision=decision, reason_code=reason,
                        decided_by_email=DEMO_USER, decided_at=at,
                    )
                )  # fmt: skip
        for i, (grades, findings) in sorted(_APPRAISALS.items()):
            parsed = parse_appraisal({**_grades(grades), "findings": findings}, "demo appraisal")
            weight, weight_class = overall_weight(parsed.suitability, parsed.contribution)
            at += dt.timedelta(minutes=20)
            session.add(
                LiteratureAppraisal(
                    record_id=rows[i].id,
                    suitability=parsed.suitability.model_dump(mode="json"),
                    contribution=parsed.contribution.model_dump(mode="json"),
                    weight=weight, weight_class=weight_class,
                    findings=[f.model_dump(mode="json") for f in parsed.findings],
                    note="SYNTHETIC demo appraisal", appraised_by_email=DEMO_USER, appraised_at=at,
                )
            )  # fmt: skip
        session.flush()
        return search.id
