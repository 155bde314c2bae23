"""Product and term keys against hand-written expectations."""

from __future__ import annotations

import pytest

from cerflow.store.keys import device_code, drug_key, term_key


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


def test_device_code_upper_cases_and_strips() -> None:
    assert device_code(" dqa ") == "DQA"
    assert device_code("") is None and device_code(None) is None and device_code("  ") is None
