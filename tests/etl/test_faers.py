"""FAERS joined case -> CanonicalReport, checked field by field against the raw text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cerflow.etl.faers import faers_case_to_report, faers_reports
from cerflow.etl.records import PartialDate
from cerflow.sources.base import SourceFormatError
from cerflow.sources.faers_ascii import read_faers_quarter
from tests.sources.test_faers_ascii import demo_row, drug_row, make_zip


def test_real_2017_case(shared_data: Path) -> None:
    path = shared_data / "faers_ascii" / "faers_ascii_2017q2.zip"
    # 115630624$11563062$4$F$201507$20170328$20150928$20170403$PER$...$55$YR$$F$...$CN$US$US
    rep = next(r for r in faers_reports(read_faers_quarter(path)) if r.source_key == "11563062")
    assert (rep.source, rep.kind, rep.source_version, rep.source_record_id) == (
        "faers",
        "drug",
        4,
        "115630624",
    )
    assert rep.received == PartialDate(dt.date(2015, 9, 28), "D")  # init_fda_dt
    assert rep.event == PartialDate(dt.date(2015, 7, 1), "M")
    assert (rep.sex, rep.age_years, rep.country, rep.reporter_type) == ("F", 55.0, "US", "CN")
    assert [(p.seq, p.role, p.product_key, p.raw_name) for p in rep.products] == [
        (1, "suspect", "TOFACITINIB", "XELJANZ"),
        (2, "concomitant", "CALCIUM", "CALCIUM"),
        (3, "concomitant", "MELATONIN", "MELATONIN"),
        (4, "concomitant", "VITAMINS", "MULTI VITAMIN"),
        (5, "concomitant", "ASCORBIC ACID", "VITAMIN C"),
        (6, "concomitant", "ALPHA TOCOPHEROL", "VITAMIN E"),
        (7, "concomitant", "CETIRIZINE", "ZYRTEC"),
    ]
    assert rep.products[0].route == "Oral"
    assert [(e.term, e.term_raw) for e in rep.events] == [
        ("lung infection", "Lung infection"),
        ("skin cancer", "Skin cancer"),
    ]
    assert rep.other_serious and rep.serious is True
    assert not (rep.death or rep.hospitalization or rep.life_threatening or rep.disability)


def test_real_2004_legacy_case(shared_data: Path) -> None:
    path = shared_data / "faers_ascii" / "aers_ascii_2004q1.zip"
    # 4263742$4061110$I$$4263742-7$20031115$20031218$20040102$EXP$...$42$YR$F$N$$$20031231$OT$
    rep = next(r for r in faers_reports(read_faers_quarter(path)) if r.source_key == "4061110")
    assert (rep.source_version, rep.source_record_id) == (0, "4263742")
    assert rep.received == PartialDate(dt.date(2004, 1, 2), "D")  # fda_dt
    assert rep.event == PartialDate(dt.date(2003, 11, 15), "D")
    assert (rep.sex, rep.age_years, rep.country, rep.reporter_type) == ("F", 42.0, None, "OT")
    assert [(p.seq, p.role, p.product_key) for p in rep.products[:3]] == [
        (1, "suspect", "TAVOR"),
        (2, "suspect", "ALCOHOL"),
        (3, "suspect", "CITALOPRAM"),
    ]
    assert [e.term for e in rep.events][:3] == ["diarrhoea", "intentional overdose", "mydriasis"]
    assert rep.hospitalization and rep.serious is True and not rep.death


def test_outcomes_roles_and_duplicate_terms(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [demo_row(1001, 100, 1, age="18", age_cod="MON", sex="UNK", event_dt="")],
            "drug": [
                drug_row(1001, 100, 1, "PS", "ASPIRIN 81 MG", ""),
                drug_row(1001, 100, 2, "SS", "X", "WARFARIN SODIUM"),
                drug_row(1001, 100, 3, "C", "Y", "OMEPRAZOLE"),
                drug_row(1001, 100, 4, "I", "Z", "CLOPIDOGREL BISULFATE"),
            ],
            "reac": ["1001$100$Rash$", "1001$100$RASH$", "1001$100$Nausea$"],
            "outc": [f"1001$100${c}" for c in ("DE", "LT", "HO", "DS", "CA", "RI", "OT")],
        },
    )
    rep = next(faers_reports(read_faers_quarter(path)))
    assert [(p.role, p.product_key) for p in rep.products] == [
        ("suspect", "ASPIRIN"),
        ("suspect", "WARFARIN"),
        ("concomitant", "OMEPRAZOLE"),
        ("interacting", "CLOPIDOGREL"),
    ]
    assert [e.term for e in rep.events] == ["rash", "nausea"]
    flags = (
        rep.death,
        rep.life_threatening,
        rep.hospitalization,
        rep.disability,
        rep.congenital_anomaly,
        rep.required_intervention,
        rep.other_serious,
    )
    assert all(flags) and rep.serious is True
    assert (rep.age_years, rep.sex, rep.event) == (1.5, None, None)


def test_no_outcome_means_not_serious(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [demo_row(1001, 100, 1)],
            "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
            "reac": [],
        },
    )
    rep = next(faers_reports(read_faers_quarter(path)))
    assert rep.serious is False and not rep.death


@pytest.mark.parametrize(
    ("tables", "member", "line", "field"),
    [
        (
            {"demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1, event_dt="20171345")]},
            "ascii/DEMO17Q2.txt",
            3,
            "event_dt",
        ),
        (
            {"demo": [demo_row(1001, 100, 1, init_fda_dt="2015-9")]},
            "ascii/DEMO17Q2.txt",
            2,
            "init_fda_dt",
        ),
        ({"outc": ["1001$100$XX"]}, "ascii/OUTC17Q2.txt", 2, "outc_cod"),
        ({"drug": [drug_row(1001, 100, 1, "ZZ", "A", "A")]}, "ascii/DRUG17Q2.txt", 2, "role_cod"),
    ],
)
def test_malformed_values_name_member_line_field(
    tmp_path: Path, tables: dict[str, list[str]], member: str, line: int, field: str
) -> None:
    base: dict[str, list[str]] = {
        "demo": [demo_row(1001, 100, 1)],
        "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
        "reac": [],
    }
    path = make_zip(tmp_path / "bad.zip", base | tables)
    with pytest.raises(SourceFormatError) as info:
        list(faers_reports(read_faers_quarter(path)))
    assert (info.value.location, info.value.line, info.value.field) == (member, line, field)


def test_single_record_function(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [demo_row(1001, 100, 3)],
            "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
            "reac": [],
        },
    )
    record = next(read_faers_quarter(path))
    assert faers_case_to_report(record).source_version == 3
