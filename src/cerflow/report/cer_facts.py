"""Put the writer's CER inputs into `Facts`, and give the document its honest title.

    apply_cer_inputs(facts, inputs, *, settings) -> Facts

A report is a "Clinical Evaluation Report" only when the inputs that make it one are
present (`cer_inputs.schemas.CER_REQUIRED`: description, intended purpose, indications,
claims, equivalence, state of the art, benefit-risk, conclusions, evaluators). Until then
it is titled "Post-market safety data for the clinical evaluation of X" and says which
inputs are missing. The inputs go into `Facts` verbatim, so facts.json is the whole basis
of the document and every number of the supplied text is traceable like any other.
"""

from __future__ import annotations

from cerflow.cer_inputs.next_update import next_update
from cerflow.cer_inputs.schemas import CerInputs, missing_for_cer
from cerflow.config import Settings
from cerflow.narrative.facts import CerFacts, Facts

CER_TITLE = "Clinical Evaluation Report"


def data_title(display: str) -> str:
    return f"Post-market safety data for the clinical evaluation of {display}"


def apply_cer_inputs(facts: Facts, inputs: CerInputs | None, *, settings: Settings) -> Facts:
    missing = missing_for_cer(inputs)
    cer = CerFacts(
        inputs=inputs,
        is_cer=not missing,
        missing=missing,
        next_update=next_update(
            inputs,
            report_date=facts.meta.generated_at.date(),
            default_months=settings.cer_update_interval_months,
        ),
    )
    title = CER_TITLE if cer.is_cer else data_title(facts.product.display_name)
    meta = facts.meta.model_copy(update={"title": title})
    return facts.model_copy(update={"meta": meta, "cer": cer})
