"""CER inputs in the narrative: filled boxes become the writer's text, missing ones stay
marked, nothing is invented, the title is honest, and the sign-off chapter is complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerflow.cer_inputs.schemas import CerInputs, load_inputs, parse_inputs
from cerflow.config import Settings
from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.inputs import LABELS
from cerflow.narrative.render import write_narrative
from cerflow.narrative.sections import Block, Narrative
from cerflow.report.cer_facts import CER_TITLE, apply_cer_inputs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cer-inputs-example-LZG.yaml"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def _blocks(narrative: Narrative) -> list[Block]:
    return [b for s in narrative.sections for b in s.blocks]


def _untraceable(facts: Facts, narrative: Narrative) -> list[str]:
    allowed = allowed_numbers(facts)
    return [n for t in narrative.all_texts() for n in numbers_in_text(t) if n not in allowed]


@pytest.fixture
def example() -> CerInputs:
    return load_inputs(EXAMPLE)


def test_filled_inputs_replace_every_keyed_box(device_facts: Facts, example: CerInputs) -> None:
    facts = apply_cer_inputs(device_facts, example, settings=SETTINGS)
    narrative = write_narrative(facts)
    blocks = _blocks(narrative)
    assert [b.input_key for b in blocks if b.kind == "writer_input" and b.input_key] == []
    supplied = {b.input_key for b in blocks if b.kind == "supplied"}
    assert supplied == set(LABELS)  # every field the schema fills, and models for a device
    by_key = {b.input_key: b for b in blocks if b.kind == "supplied"}
    assert by_key["intended_purpose"].items == [
        "Controlled intravenous delivery of fluids, medicinal products, blood and blood "
        "products by trained healthcare professionals in hospitals."
    ]
    assert by_key["description"].items[1] == (
        "It is used with dedicated single-use administration sets (described in their own CER)."
    )
    assert by_key["equivalence"].items[0] == "Equivalence to another device is not claimed."
    models = by_key["models"].table
    assert models is not None and models.rows[0][:2] == [
        "Example VIP-1 (single channel)",
        "09506000134352",
    ]
    assert facts.meta.title == CER_TITLE
    assert _untraceable(facts, narrative) == []


def test_without_inputs_boxes_stay_and_the_title_is_honest(drug_facts: Facts) -> None:
    facts = apply_cer_inputs(drug_facts, None, settings=SETTINGS)
    assert facts.meta.title == "Post-market safety data for the clinical evaluation of Atorvastatin"
    narrative = write_narrative(facts)
    blocks = _blocks(narrative)
    assert not [b for b in blocks if b.kind == "supplied"]
    keyed = {b.input_key for b in blocks if b.kind == "writer_input" and b.input_key}
    assert keyed == set(LABELS) - {"models"}  # a drug has no models/UDI-DI box
    summary = " ".join(narrative.sections[0].texts())
    assert "This document is not yet a Clinical Evaluation Report" in summary
    assert "still missing: device/product description, intended purpose," in summary
    assert _untraceable(facts, narrative) == []


def test_partial_inputs_fill_only_what_is_given(drug_facts: Facts) -> None:
    inputs = parse_inputs(
        {
            "schema_version": 1,
            "intended_purpose": "Lowering LDL cholesterol in adults (example text).",
            "evaluators": [
                {
                    "name": "Dr. X",
                    "qualification": "MD",
                    "cv_reference": "CV-9",
                    "declaration_of_interest": "none declared",
                }
            ],
        }
    )
    facts = apply_cer_inputs(drug_facts, inputs, settings=SETTINGS)
    assert facts.cer is not None and not facts.cer.is_cer
    assert "intended purpose" not in facts.cer.missing
    assert "conclusions" in facts.cer.missing
    assert facts.meta.title.startswith("Post-market safety data for the clinical evaluation")
    blocks = _blocks(write_narrative(facts))
    assert {b.input_key for b in blocks if b.kind == "supplied"} == {"intended_purpose"}
    assert "conclusions" in {b.input_key for b in blocks if b.kind == "writer_input"}


def test_supplied_text_is_never_parsed_as_markup(drug_facts: Facts) -> None:
    evil = "::section evil 99 Injected\n| a | b |\n::writer\n- not a bullet"
    inputs = parse_inputs({"schema_version": 1, "conclusions": evil})
    narrative = write_narrative(apply_cer_inputs(drug_facts, inputs, settings=SETTINGS))
    assert "evil" not in [s.id for s in narrative.sections]
    (block,) = [b for b in _blocks(narrative) if b.kind == "supplied"]
    assert block.items == ["::section evil 99 Injected | a | b | ::writer - not a bullet"]


def test_sign_off_chapter(device_facts: Facts, example: CerInputs) -> None:
    facts = apply_cer_inputs(device_facts, example, settings=SETTINGS)
    sections = {s.id: s for s in write_narrative(facts).sections}
    assert sections["sign-off"].number == "9"
    evaluators = sections["sign-off-evaluators"].blocks[0].table
    assert evaluators is not None
    assert evaluators.columns == [
        "Name",
        "Role",
        "Qualification",
        "CV reference",
        "Declaration of interest",
    ]
    assert [r[0] for r in evaluators.rows] == ["Dr. A. Example", "B. Sample, MSc"]
    assert evaluators.rows[0][4] == "None declared (fictional example)."
    approval = [b.table for b in sections["sign-off-approval"].blocks if b.table]
    assert approval[0] is not None
    assert approval[0].rows[0][:2] == ["C. Demo", "Head of Regulatory Affairs"]
    assert approval[0].rows[0][3].startswith("____")  # a line to sign on
    text = " ".join(sections["sign-off-next-update"].texts())
    today = facts.meta.generated_at.date()
    due = today.replace(year=today.year + 1) if (today.month, today.day) != (2, 29) else None
    if due is not None:
        assert f"updated by {due.isoformat()}, 12 months after" in text
    assert "as the device carries significant risks (MEDDEV 2.7/1 rev 4, 6.2.3)" in text
    history = sections["sign-off-history"].blocks[0].table
    assert history is not None and history.rows == [
        [
            "1",
            "2025-06-30",
            "Dr. A. Example",
            "First issue of the clinical evaluation (fictional example).",
        ]
    ]


def test_sign_off_without_inputs_is_marked_boxes(drug_facts: Facts) -> None:
    sections = {s.id: s for s in write_narrative(drug_facts).sections}  # no cer at all
    for sid in (
        "sign-off-evaluators",
        "sign-off-approval",
        "sign-off-next-update",
        "sign-off-history",
    ):
        kinds = [b.kind for b in sections[sid].blocks]
        assert kinds == ["writer_input"] or kinds[-1] == "writer_input", (sid, kinds)
