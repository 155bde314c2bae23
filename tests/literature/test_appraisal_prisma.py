"""Appraisal (MEDDEV 2.7/1 rev 4 A6) and PRISMA 2020 counts against the screening log.

The PRISMA boxes are checked against counts taken from the log by an independent SQL
query (newest decision per record and stage by a max(id) subquery), not by the Python
rule under test; weights against hand calculations of the documented method.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from cerflow.errors import NotFoundError
from cerflow.literature import appraisal
from cerflow.literature.models import (
    LiteratureAppraisal,
    LiteratureProtocol,
    LiteratureRecordRow,
    LiteratureScreeningDecision,
    LiteratureSearch,
)
from cerflow.literature.prisma import prisma_counts

GOOD: dict[str, Any] = {
    "suitability": {"device": "D1", "application": "A1", "population": "P1", "report": "R1"},
    "contribution": {
        "design": "T1",
        "outcomes": "O1",
        "follow_up": "F1",
        "statistics": "S1",
        "clinical_significance": "C1",
    },
    "findings": [{"event": "Rhabdomyolysis", "events": 3, "patients": 412, "population": "adults"}],
}


def _search(s: Session) -> tuple[LiteratureSearch, list[LiteratureRecordRow]]:
    proto = LiteratureProtocol(
        product_kind="drug", product_ref="ATORVASTATIN", version=1, data={}, created_by_email="t"
    )
    s.add(proto)
    s.flush()
    now = dt.datetime.now(dt.UTC)
    search = LiteratureSearch(
        protocol_id=proto.id,
        product_kind="drug",
        product_ref="ATORVASTATIN",
        counts={},
        provenance=[],
        identified=12,
        duplicates_removed=3,
        unique_records=9,
        started_at=now,
        created_by_email="t",
    )
    s.add(search)
    s.flush()
    dbs = ["pubmed"] * 6 + ["europepmc"] * 4 + ["ctgov"] * 2
    rows = [
        LiteratureRecordRow(
            search_id=search.id,
            position=i,
            database=db,
            source_id=str(i),
            title=f"T{i}",
            authors=[],
        )
        for i, db in enumerate(dbs)
    ]
    s.add_all(rows)
    s.flush()
    # planted duplicates: three Europe PMC records of PubMed ones
    for dup, kept in ((6, 0), (7, 1), (8, 2)):
        rows[dup].duplicate_of_id = rows[kept].id
        rows[dup].duplicate_rule = "pmid"
    s.flush()
    return search, rows


def _decide(
    s: Session, rec: LiteratureRecordRow, stage: str, decision: str, reason: str | None = None
) -> None:
    s.add(
        LiteratureScreeningDecision(
            record_id=rec.id,
            stage=stage,
            decision=decision,
            reason_code=reason,
            decided_by_email="writer@demo.cerflow.local",
        )
    )
    s.flush()


def _log(s: Session, rows: list[LiteratureRecordRow]) -> None:
    """Unique records: 0-5, 9, 10, 11 (nine). Plan:
    0: TA include, FT include             -> included
    1: TA include, FT exclude E2          -> excluded at full text
    2: TA exclude E1, then include, FT include (changed mind) -> included
    3: TA exclude E1                      -> excluded at title/abstract
    4: TA exclude E2                      -> excluded at title/abstract
    5: TA include                         -> awaiting full text
    9: no decision                        -> awaiting screening
    10: TA include, FT include, then FT exclude E3 -> excluded at full text
    11: TA include, FT include            -> included
    duplicate 6 gets a decision that must be ignored.
    """
    r = rows
    _decide(s, r[0], "title_abstract", "include")
    _decide(s, r[0], "full_text", "include")
    _decide(s, r[1], "title_abstract", "include")
    _decide(s, r[1], "full_text", "exclude", "E2")
    _decide(s, r[2], "title_abstract", "exclude", "E1")
    _decide(s, r[2], "title_abstract", "include")
    _decide(s, r[2], "full_text", "include")
    _decide(s, r[3], "title_abstract", "exclude", "E1")
    _decide(s, r[4], "title_abstract", "exclude", "E2")
    _decide(s, r[5], "title_abstract", "include")
    _decide(s, r[10], "title_abstract", "include")
    _decide(s, r[10], "full_text", "include")
    _decide(s, r[10], "full_text", "exclude", "E3")
    _decide(s, r[11], "title_abstract", "include")
    _decide(s, r[11], "full_text", "include")
    _decide(s, r[6], "title_abstract", "include")


def _current_from_sql(s: Session, search_id: int, stage: str) -> dict[int, tuple[str, str | None]]:
    d = LiteratureScreeningDecision
    rec = LiteratureRecordRow
    newest = (
        select(func.max(d.id).label("id"))
        .join(rec, rec.id == d.record_id)
        .where(rec.search_id == search_id, rec.duplicate_of_id.is_(None), d.stage == stage)
        .group_by(d.record_id)
        .subquery()
    )
    rows = s.execute(
        select(d.record_id, d.decision, d.reason_code).join(newest, and_(d.id == newest.c.id))
    )
    return {rid: (dec, reason) for rid, dec, reason in rows}


def test_prisma_counts_equal_the_screening_log(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        search, rows = _search(s)
        _log(s, rows)
        recs = list(
            s.scalars(select(LiteratureRecordRow).where(LiteratureRecordRow.search_id == search.id))
        )
        decs = list(s.scalars(select(LiteratureScreeningDecision)))
        c = prisma_counts(recs, decs, database_order=["pubmed", "europepmc", "ctgov"])
        ta = _current_from_sql(s, search.id, "title_abstract")
        ft = _current_from_sql(s, search.id, "full_text")
        s.rollback()
    # independent counts from the log
    assert c.identified_by_database == {"pubmed": 6, "europepmc": 4, "ctgov": 2}
    assert (c.identified, c.duplicates_removed, c.unique) == (12, 3, 9)
    assert c.included == sum(1 for v in ft.values() if v[0] == "include") == 3
    assert c.full_text_assessed == len(ft) == 5
    assert c.excluded_full_text == sum(1 for v in ft.values() if v[0] == "exclude") == 2
    assert c.excluded_full_text_reasons == {"E2": 1, "E3": 1}
    ta_only_excluded = {k: v for k, v in ta.items() if v[0] == "exclude" and k not in ft}
    assert c.excluded_title_abstract == len(ta_only_excluded) == 2
    assert c.excluded_title_abstract_reasons == {"E1": 1, "E2": 1}
    assert (
        c.awaiting_full_text
        == sum(1 for k, v in ta.items() if v[0] == "include" and k not in ft)
        == 1
    )
    assert c.awaiting_screening == 9 - len(set(ta) | set(ft)) == 1
    assert c.screened == len(set(ta) | set(ft)) == 8
    assert c.sought_full_text == 6 and c.inconsistent == 0
    # the boxes add up
    assert c.unique == c.awaiting_screening + c.screened
    assert c.screened == c.excluded_title_abstract + c.sought_full_text
    assert c.sought_full_text == c.awaiting_full_text + c.full_text_assessed
    assert c.full_text_assessed == c.excluded_full_text + c.included
    assert sorted(c.included_ids) == sorted(k for k, v in ft.items() if v[0] == "include")


def test_weights_by_hand() -> None:
    best = appraisal.parse_appraisal(GOOD, "t")
    assert appraisal.overall_weight(best.suitability, best.contribution) == (100, "high")
    mixed = appraisal.Suitability(device="D2", application="A1", population="P2", report="R1")
    contrib = appraisal.Contribution(
        design="T2", outcomes="O1", follow_up="F1", statistics="S2", clinical_significance="C1"
    )
    # suitability 3*0.5 + 2 + 2*0.5 + 2 = 6.5 of 9; contribution 0+1+1+0+2 = 4 of 7
    # 10.5 / 16 = 65.625% -> 66, moderate
    assert appraisal.overall_weight(mixed, contrib) == (66, "moderate")
    other = mixed.model_copy(update={"device": "D3"})
    # 0 + 2 + 1 + 2 = 5; 9 / 16 = 56.25% -> 56, but D3 is never above low
    assert appraisal.overall_weight(other, contrib) == (56, "low")
    worst = appraisal.Suitability(device="D1", application="A3", population="P3", report="R3")
    low = appraisal.Contribution(
        design="T2", outcomes="O2", follow_up="F2", statistics="S2", clinical_significance="C2"
    )
    assert appraisal.overall_weight(worst, low) == (19, "low")  # 3 / 16 = 18.75%


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"suitability": {**GOOD["suitability"], "device": "D4"}}, "suitability.device"),
        ({"findings": [{"event": "Myalgia", "events": 9, "patients": 5}]}, "n cannot exceed N"),
        (
            {"findings": [{"event": "Myalgia", "events": 9}]},
            "give both events (n) and patients (N)",
        ),
        ({"findings": [{"event": "   "}]}, "findings.0"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_validation_names_the_field(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(appraisal.AppraisalError) as err:
        appraisal.parse_appraisal({**GOOD, **change}, "file.yaml")
    assert expected in str(err.value) and str(err.value).startswith("file.yaml: invalid appraisal")


def test_only_included_records_are_appraised_newest_wins(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        search, rows = _search(s)
        _log(s, rows)
        for rec, why in (
            (rows[1], "full-text decision exclude"),
            (rows[5], "no full-text decision"),
            (rows[6], "duplicate of record"),
        ):
            with pytest.raises(appraisal.AppraisalError, match=why):
                appraisal.appraise(session=s, record_id=rec.id, data=GOOD, user_id=None)
        with pytest.raises(NotFoundError):
            appraisal.appraise(session=s, record_id=10**9, data=GOOD, user_id=None)
        assert s.scalar(select(func.count()).select_from(LiteratureAppraisal)) == 0
        first = appraisal.appraise(session=s, record_id=rows[0].id, data=GOOD, user_id=None)
        assert (first.weight, first.weight_class, first.appraised_by_email) == (100, "high", "cli")
        second_data = {
            **GOOD,
            "suitability": {**GOOD["suitability"], "device": "D3"},
            "note": "other device",
        }
        second = appraisal.appraise(session=s, record_id=rows[0].id, data=second_data, user_id=None)
        # D3: 0 + 2 + 2 + 2 = 6 of 9, contribution 7 of 7: 13/16 = 81.25% -> 81, capped low
        assert (second.weight, second.weight_class) == (81, "low")
        current = appraisal.current_appraisals(session=s, search_id=search.id)
        assert current[rows[0].id].id == second.id
        assert [a.id for a in appraisal.history(session=s, record_id=rows[0].id)] == [
            first.id,
            second.id,
        ]
        out = appraisal.to_out(second)
        assert out.findings[0].event == "Rhabdomyolysis" and out.findings[0].events == 3
        s.rollback()
