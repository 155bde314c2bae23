"""Labelled-status matching: hand-written sentences, then FDA's real Lipitor and Humira."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerflow.analysis.labelling import (
    LabelIndex,
    common_form,
    find_in_label,
    is_lack_of_efficacy,
    sentences,
)
from tests.replay.labels import HUMIRA, LIPITOR, spl_label


@pytest.mark.parametrize(
    ("word", "form"),
    [
        ("Myalgias", "myalgia"),
        ("myopathies", "myopathy"),
        ("rashes", "rash"),
        ("abscesses", "abscess"),
        ("infections", "infection"),
        ("rhabdomyolysis", "rhabdomyolysis"),  # -is is not a plural
        ("anaemia", "anemia"),
        ("haemorrhage", "hemorrhage"),
        ("oedema", "edema"),
        ("oesophagitis", "esophagitis"),
        ("diarrhoea", "diarrhea"),
        ("dyspnoea", "dyspnea"),
        ("paraesthesia", "paresthesia"),
        ("tumours", "tumor"),
        ("hospitalisation", "hospitalization"),
        ("hour", "hour"),
    ],
)
def test_common_form(word: str, form: str) -> None:
    assert common_form(word) == form


def test_sentences_do_not_end_at_references_or_eg() -> None:
    text = (
        "Skeletal muscle effects (e.g., myopathy): see (5.1) for details. "
        "Liver enzyme abnormalities may occur. [see Warnings] Nausea"
    )
    assert sentences(text) == [
        "Skeletal muscle effects (e.g., myopathy): see (5.1) for details.",
        "Liver enzyme abnormalities may occur.",
        "[see Warnings] Nausea",
    ]


def test_a_numbered_heading_is_not_part_of_the_first_sentence() -> None:
    text = "5 WARNINGS AND PRECAUTIONS Skeletal muscle effects (e.g., myopathy): see below."
    assert sentences(text) == [
        "5 WARNINGS AND PRECAUTIONS",
        "Skeletal muscle effects (e.g., myopathy): see below.",
    ]


def test_match_rules_by_hand() -> None:
    label = {
        "boxed_warning": ["Serious infections may occur."],
        "adverse_reactions": [
            "The most common reactions were nasopharyngitis and peripheral oedema. "
            "Anaemias were reported. Muscle spasms occurred in 3.6% of patients."
        ],
    }
    m = find_in_label("Peripheral edema", label)
    assert m is not None
    assert m.section == "adverse_reactions"
    assert m.quote == ("The most common reactions were nasopharyngitis and peripheral oedema.")
    assert find_in_label("ANAEMIA", label) is not None  # case and spelling, plural
    assert find_in_label("Muscle spasm", label) is not None
    assert find_in_label("Serious infection", label).section == "boxed_warning"  # type: ignore[union-attr]
    # words must be consecutive and whole: no partial words, no reordering
    assert find_in_label("Spasms muscle", label) is None
    assert find_in_label("Infect", label) is None
    assert find_in_label("Edema peripheral", label) is None
    # a section outside the safety sections is not read
    assert find_in_label("Dizziness", {"description": ["Dizziness."]}) is None


def test_long_sentence_is_quoted_around_the_term() -> None:
    long = "Word " * 100 + "then rhabdomyolysis was seen " + "and more " * 60 + "end."
    m = find_in_label("Rhabdomyolysis", {"warnings": [long]})
    assert m is not None
    assert len(m.quote) <= 300 + 6
    assert m.quote.startswith("...") and m.quote.endswith("...")
    assert "rhabdomyolysis" in m.quote
    assert m.quote.strip(".") in long  # verbatim


def test_lack_of_efficacy_terms() -> None:
    assert is_lack_of_efficacy("Drug ineffective")
    assert is_lack_of_efficacy("drug  INEFFECTIVE")
    assert is_lack_of_efficacy("Therapeutic response decreased")
    assert not is_lack_of_efficacy("Myalgia")


def test_lipitor_label_myalgia_and_rhabdomyolysis_are_labelled(shared_data: Path) -> None:
    index = LabelIndex(spl_label(shared_data, LIPITOR))
    myalgia = index.find("Myalgia")
    assert myalgia is not None
    assert myalgia.section == "warnings_and_cautions"
    assert myalgia.quote == (
        "Myopathy should be considered in any patient with diffuse myalgias, muscle "
        "tenderness or weakness, and/or marked elevation of CPK."
    )
    rhabdo = index.find("Rhabdomyolysis")
    assert rhabdo is not None
    assert rhabdo.section == "warnings_and_cautions"
    assert rhabdo.quote.startswith("Skeletal muscle effects (e.g., myopathy and rhabdomyolysis)")
    diarrhoea = index.find("Diarrhoea")  # British spelling against the US label
    assert diarrhoea is not None and diarrhoea.section == "adverse_reactions"
    assert "diarrhea" in diarrhoea.quote
    # worded otherwise in the label ("CPK", "muscle ... weakness"): not found, by the rule
    assert index.find("Blood creatine phosphokinase increased") is None
    assert index.find("Drug ineffective") is None


def test_humira_boxed_warning_comes_first(shared_data: Path) -> None:
    index = LabelIndex(spl_label(shared_data, HUMIRA))
    tb = index.find("Tuberculosis")
    assert tb is not None
    assert tb.section == "boxed_warning"
    assert tb.quote == "Active tuberculosis (TB), including reactivation of latent TB."
    lymphoma = index.find("Lymphoma")
    assert lymphoma is not None and lymphoma.section == "boxed_warning"
    site = index.find("Injection site reactions")
    assert site is not None and site.section == "adverse_reactions"
