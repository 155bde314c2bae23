"""Normalization rules against hand-written expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from cerflow.etl.normalize import (
    age_in_years,
    drug_key,
    parse_partial_date,
    sex_code,
    term_key,
)
from cerflow.etl.records import PartialDate


@pytest.mark.parametrize(
    ("name", "key"),
    [
        # salts and hydrates after the ingredient are dropped
        ("ATORVASTATIN CALCIUM", "ATORVASTATIN"),
        ("Metformin HCl", "METFORMIN"),
        ("SERTRALINE HYDROCHLORIDE", "SERTRALINE"),
        ("ESOMEPRAZOLE MAGNESIUM DIHYDRATE", "ESOMEPRAZOLE"),
        ("METHYLPREDNISOLONE SODIUM SUCCINATE", "METHYLPREDNISOLONE"),
        ("TOFACITINIB CITRATE", "TOFACITINIB"),
        # ... unless the salt is the drug
        ("SODIUM CHLORIDE", "SODIUM CHLORIDE"),
        ("FERROUS SULFATE", "FERROUS SULFATE"),
        ("POTASSIUM CHLORIDE 20 MEQ", "POTASSIUM CHLORIDE"),
        ("MAGNESIUM OXIDE", "MAGNESIUM OXIDE"),
        ("CALCIUM GLUCONATE", "CALCIUM GLUCONATE"),
        ("CALCIUM", "CALCIUM"),
        # strengths
        ("ATORVASTATIN CALCIUM 10 MG", "ATORVASTATIN"),
        ("AMOXICILLIN 500MG/5ML", "AMOXICILLIN"),
        ("HUMIRA 40 MG/0.8 ML", "HUMIRA"),
        ("LIDOCAINE 5% PATCH", "LIDOCAINE"),
        ("SODIUM CHLORIDE 0,9 %", "SODIUM CHLORIDE"),
        ("INSULIN GLARGINE 100 UNITS/ML", "INSULIN GLARGINE"),
        ("ALBUTEROL 90 MCG/ACTUATION INHALER", "ALBUTEROL"),
        ("LEVOTHYROXINE SODIUM 50 MCG", "LEVOTHYROXINE"),
        # dose forms
        ("IBUPROFEN 200MG FILM-COATED TABLETS", "IBUPROFEN"),
        ("METFORMIN HCL ER 500 MG", "METFORMIN"),
        ("PREDNISONE TABLET", "PREDNISONE"),
        # combinations: FAERS prod_ai uses a backslash; sorted and de-duplicated
        ("SULFAMETHOXAZOLE\\TRIMETHOPRIM", "SULFAMETHOXAZOLE / TRIMETHOPRIM"),
        ("Trimethoprim/sulfamethoxazole", "SULFAMETHOXAZOLE / TRIMETHOPRIM"),
        ("HYDROCODONE BITARTRATE AND ACETAMINOPHEN", "ACETAMINOPHEN / HYDROCODONE"),
        ("CARBIDOPA\\ENTACAPONE\\LEVODOPA", "CARBIDOPA / ENTACAPONE / LEVODOPA"),
        ("ASPIRIN + ASPIRIN", "ASPIRIN"),
        # punctuation, accents, brackets, empty
        ("PREDNISONE.", "PREDNISONE"),
        (".ALPHA.-TOCOPHEROL", "ALPHA TOCOPHEROL"),
        ("Caf\u00e9ine", "CAFEINE"),
        ("TYLENOL (ACETAMINOPHEN)", "TYLENOL"),
        ("VITAMIN B12", "VITAMIN B12"),
        ("", ""),
        (None, ""),
        ("   ", ""),
        ("10 MG", ""),
    ],
)
def test_drug_key(name: str | None, key: str) -> None:
    assert drug_key(name) == key


def test_term_key_case_folds_and_normalizes_spaces() -> None:
    assert term_key("  Herpes   Simplex ") == "herpes simplex"
    assert term_key("HERPES SIMPLEX") == term_key("Herpes simplex")
    assert term_key("Stra\u00dfe") == "strasse"
    assert term_key(None) == "" and term_key("") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2003", PartialDate(dt.date(2003, 1, 1), "Y")),
        ("201507", PartialDate(dt.date(2015, 7, 1), "M")),
        ("20150327", PartialDate(dt.date(2015, 3, 27), "D")),
        (" 20040102 ", PartialDate(dt.date(2004, 1, 2), "D")),
        ("03/27/2015", PartialDate(dt.date(2015, 3, 27), "D")),
        ("27-MAR-15", PartialDate(dt.date(2015, 3, 27), "D")),
        ("2015-03-27T10:00:00", PartialDate(dt.date(2015, 3, 27), "D")),
        ("", None),
        (None, None),
    ],
)
def test_parse_partial_date(text: str | None, expected: PartialDate | None) -> None:
    assert parse_partial_date(text) == expected


@pytest.mark.parametrize("text", ["201513", "20150230", "20151", "0000", "2015x", "13/45/2015"])
def test_parse_partial_date_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_date(text)


@pytest.mark.parametrize(
    ("value", "unit", "years"),
    [
        ("55", "YR", 55.0),
        ("6", "DEC", 60.0),
        ("18", "MON", 1.5),
        ("26", "WK", round(26 * 7 / 365.25, 3)),
        ("100", "DY", round(100 / 365.25, 3)),
        ("48", "HR", round(48 / 8766, 3)),
        ("40", "801", 40.0),
        ("40", None, 40.0),
        ("", "YR", None),
        ("abc", "YR", None),
        ("200", "YR", None),
        ("-1", "YR", None),
        ("5", "FORTNIGHT", None),
    ],
)
def test_age_in_years(value: str, unit: str | None, years: float | None) -> None:
    assert age_in_years(value, unit) == years


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("F", "F"),
        ("M", "M"),
        ("1", "M"),
        ("2", "F"),
        (2, "F"),
        ("UNK", None),
        ("NS", None),
        ("", None),
        (None, None),
        ("female", "F"),
    ],
)
def test_sex_code(value: str | int | None, code: str | None) -> None:
    assert sex_code(value) == code
