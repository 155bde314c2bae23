"""Replace the marked writer-input boxes with what the CER inputs supply; keep the rest.

    fill_inputs(sections, facts) -> sections

A template marks a box with the field that fills it (`::writer intended_purpose`). When
`facts.cer.inputs` has that field, the box becomes a "supplied" block: the field's label
and its text verbatim (paragraphs split at blank lines), or a table for the models in
scope. Nothing is invented: an empty field keeps its box, and a box without a field (data
only the manufacturer has but the schema does not hold) stays a box.

Supplied text is not template text: it bypasses the block markup parser (so a line that
starts with "::" or "|" in a writer's text is just text) and the optional LLM rewriter,
which polishes "paragraph" blocks only, never the manufacturer's words.
"""

from __future__ import annotations

from collections.abc import Callable

from cerflow.cer_inputs.schemas import CerInputs
from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Block, Section, Table

LABELS: dict[str, str] = {
    "description": "Description of the product",
    "models": "Models, variants and UDI-DIs in scope",
    "intended_purpose": "Intended purpose",
    "indications": "Indications, contraindications and target population",
    "claims": "Clinical claims",
    "equivalence": "Equivalence",
    "state_of_the_art": "State of the art",
    "complaint_summary": "Manufacturer's complaints, vigilance and field safety actions",
    "pmcf_summary": "Clinical data and post-market clinical follow-up (PMCF)",
    "usage_data": "Sales and usage (denominators)",
    "benefit_risk": "Benefit-risk determination",
    "conclusions": "Conclusions of the evaluators",
}


def paragraphs(text: str) -> list[str]:
    """Free text -> paragraphs (blank lines separate them; line breaks inside are spaces)."""
    out = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        joined = " ".join(chunk.split())
        if joined:
            out.append(joined)
    return out


def _text(value: str | None) -> list[str]:
    return paragraphs(value) if value else []


def _indications(inputs: CerInputs) -> list[str]:
    if not inputs.indications:
        return []
    out = [f"Indication: {i}" for i in inputs.indications]
    out += [f"Contraindication: {c}" for c in inputs.contraindications]
    if inputs.target_population:
        out += [f"Target population: {p}" for p in paragraphs(inputs.target_population)]
    return out


def _equivalence(inputs: CerInputs) -> list[str]:
    eq = inputs.equivalence
    if eq is None:
        return []
    if not eq.claimed:
        out = ["Equivalence to another device is not claimed."]
    else:
        out = [f"Equivalence is claimed to {eq.equivalent_device}."]
        for name, value in (
            ("Clinical", eq.clinical),
            ("Technical", eq.technical),
            ("Biological", eq.biological),
        ):
            out += [f"{name} characteristics: {p}" for p in _text(value)]
    return out + _text(eq.justification)


def _state_of_the_art(inputs: CerInputs) -> list[str]:
    sota = inputs.state_of_the_art
    if sota is None:
        return []
    return paragraphs(sota.text) + [f"Reference: {r}" for r in sota.references]


_ITEMS: dict[str, Callable[[CerInputs], list[str]]] = {
    "description": lambda i: _text(i.description),
    "intended_purpose": lambda i: _text(i.intended_purpose),
    "indications": _indications,
    "claims": lambda i: list(i.claims),
    "equivalence": _equivalence,
    "state_of_the_art": _state_of_the_art,
    "complaint_summary": lambda i: _text(i.complaint_summary),
    "pmcf_summary": lambda i: _text(i.pmcf_summary),
    "usage_data": lambda i: _text(i.usage_data),
    "benefit_risk": lambda i: _text(i.benefit_risk),
    "conclusions": lambda i: _text(i.conclusions),
}


def supplied_block(key: str, inputs: CerInputs) -> Block | None:
    """The block that replaces the `key` box, or None when the inputs leave it empty."""
    if key == "models":
        if not inputs.models:
            return None
        rows = [
            [
                " ".join(m.name.split()),
                m.udi_di or "-",
                m.basic_udi_di or "-",
                m.catalogue_number or "-",
            ]
            for m in inputs.models
        ]
        table = Table(
            caption="Models and UDI-DIs in scope (from the CER inputs)",
            columns=["Model", "UDI-DI", "Basic UDI-DI", "Catalogue no."],
            rows=rows,
        )
        return Block(kind="supplied", text=LABELS[key], table=table, input_key=key)
    render = _ITEMS.get(key)
    if render is None:
        raise KeyError(f"::writer {key}: not a field of the CER inputs")
    items = render(inputs)
    if not items:
        return None
    return Block(kind="supplied", text=LABELS[key], items=items, input_key=key)


def fill_inputs(sections: list[Section], facts: Facts) -> list[Section]:
    inputs = facts.cer.inputs if facts.cer is not None else None
    for section in sections:
        blocks: list[Block] = []
        for block in section.blocks:
            key = block.input_key
            if block.kind == "writer_input" and key:
                if key not in LABELS:  # a template bug, caught with or without inputs
                    raise KeyError(f"::writer {key}: not a field of the CER inputs")
                supplied = supplied_block(key, inputs) if inputs is not None else None
                if supplied is not None:
                    blocks.append(supplied)
                    continue
            blocks.append(block)
        section.blocks = blocks
    return sections
