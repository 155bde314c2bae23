"""CER inputs: what only the manufacturer or the evaluator can supply, as a versioned schema.

    load_inputs(path) -> CerInputs            YAML (.yaml/.yml) or JSON (.json) file
    parse_inputs(data, where) -> CerInputs    a decoded mapping (API body, stored row)
    missing_for_cer(inputs) -> [labels]       what is still missing before it is a CER
    json_schema() -> dict                     the JSON Schema (`cerflow inputs schema`)

Why it is shaped like this:
- Public data (FAERS, MAUDE, recalls, EUDAMED) cannot state the intended purpose, the
  claims, the state of the art, the benefit-risk conclusion or who evaluated and approved
  the document (MEDDEV 2.7/1 rev 4, Appendix A9). These come from a file the writer keeps
  under version control, or from the API, and are validated before anything is stored or
  rendered: every error names the field (`evaluators[0].declaration_of_interest`) and why.
- Unknown keys are errors (a misspelt `intended_purpos` must not silently drop a section).
- `schema_version` is required, so a later schema can convert or refuse old files
  explicitly instead of misreading them.
- Nothing here imports the store or the web layer: the narrative layer reads these models
  from `Facts`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cerflow.errors import CerflowError
from cerflow.timestamps import UtcDatetime

SCHEMA_VERSION = 1
MAX_TEXT = 20_000  # characters of one free-text field (a few pages)

# One line (a name, a reference): no control character, not blank.
Line = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]+$",
    ),
]
# Free text: paragraphs separated by blank lines; line breaks and tabs allowed.
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_TEXT,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


class ModelInScope(_Model):
    """One model or variant covered by the evaluation."""

    name: Line = Field(description="Model or variant name as labelled.")
    udi_di: Line | None = Field(
        default=None,
        description="UDI-DI (a 14-digit GS1 GTIN is checked for its check digit).",
    )
    basic_udi_di: Line | None = Field(default=None, description="Basic UDI-DI.")
    catalogue_number: Line | None = Field(default=None, description="Reference/catalogue no.")

    @field_validator("udi_di")
    @classmethod
    def _gs1(cls, value: str | None) -> str | None:
        if value is not None and value.isdigit() and len(value) == 14:
            expected = gs1_check_digit(value[:-1])
            if int(value[-1]) != expected:
                raise ValueError(
                    f"GS1 check digit should be {expected}, not {value[-1]} "
                    "(copy the UDI-DI from the label or EUDAMED)"
                )
        return value


class Equivalence(_Model):
    """MEDDEV 2.7/1 rev 4 Appendix A1: equivalence is claimed or it is not, and if it is,
    the three characteristics are compared."""

    claimed: bool = Field(description="Is equivalence to another device claimed?")
    equivalent_device: Line | None = Field(
        default=None, description="The device claimed equivalent (name, manufacturer)."
    )
    clinical: Text | None = Field(default=None, description="Clinical characteristics compared.")
    technical: Text | None = Field(default=None, description="Technical characteristics compared.")
    biological: Text | None = Field(
        default=None, description="Biological characteristics compared."
    )
    justification: Text | None = Field(
        default=None, description="Why equivalence is (not) claimed; data access."
    )

    @model_validator(mode="after")
    def _claimed_needs_all(self) -> Equivalence:
        if self.claimed:
            missing = [
                name
                for name in ("equivalent_device", "clinical", "technical", "biological")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    "equivalence is claimed, so "
                    + ", ".join(missing)
                    + (" is" if len(missing) == 1 else " are")
                    + " required (MEDDEV 2.7/1 rev 4 A1: all three characteristics)"
                )
        return self


class StateOfTheArt(_Model):
    text: Text = Field(description="State of the art: the clinical background and alternatives.")
    references: list[Line] = Field(default_factory=list, description="Cited references.")


class Evaluator(_Model):
    name: Line = Field(description="Full name.")
    qualification: Line = Field(description="Degree, specialty and relevant experience.")
    cv_reference: Line = Field(description="Where the CV is filed (document id).")
    declaration_of_interest: Text = Field(
        description="Declaration of interest (or 'none declared'), MEDDEV 2.7/1 rev 4 6.4."
    )
    role: Line | None = Field(default=None, description="e.g. 'lead evaluator'.")


class Approver(_Model):
    name: Line = Field(description="Full name.")
    role: Line = Field(description="Function, e.g. 'Head of Regulatory Affairs'.")
    organisation: Line | None = None


DeviceClass = Literal["I", "IIa", "IIb", "III"]


class NextUpdate(_Model):
    """How the date of the next update is set (MEDDEV 2.7/1 rev 4, 6.2.3)."""

    device_class: DeviceClass | None = Field(default=None, description="EU MDR risk class.")
    implantable: bool | None = None
    significant_risk: bool | None = Field(
        default=None, description="Does the device carry significant risks?"
    )
    well_established: bool | None = Field(
        default=None, description="Is it a well-established technology?"
    )
    interval_months: int | None = Field(
        default=None, ge=1, le=60, description="Interval chosen by the manufacturer (months)."
    )
    date: dt.date | None = Field(default=None, description="A fixed date, if decided.")
    justification: Text | None = Field(default=None, description="Why this interval or date.")

    @model_validator(mode="after")
    def _annual_for_high_risk(self) -> NextUpdate:
        high = (
            self.device_class == "III"
            or self.implantable is True
            or self.significant_risk is True
            or self.well_established is False
        )
        if high and self.interval_months is not None and self.interval_months > 12:
            raise ValueError(
                "interval_months over 12 for a device that is class III, implantable, carries "
                "significant risks or is not well established: MEDDEV 2.7/1 rev 4 6.2.3 asks "
                "for an update at least annually"
            )
        if (self.interval_months is not None or self.date is not None) and not self.justification:
            raise ValueError("justification is required when interval_months or date is given")
        return self


class ChangeEntry(_Model):
    version: Line = Field(description="Version label of the CER, e.g. '2'.")
    date: dt.date
    description: Text = Field(description="What changed and why.")
    author: Line | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # YAML reads `version: 2` as a number and `version: 1.1` as a float.
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class CerInputs(_Model):
    """Everything in a CER that public post-market data cannot supply."""

    schema_version: Literal[1] = Field(description="Always 1 for this schema.")
    product: Line | None = Field(
        default=None, description="The product the inputs are for (drug name or product code)."
    )
    description: Text | None = Field(
        default=None, description="Device/drug description: design, composition, principle."
    )
    models: list[ModelInScope] = Field(
        default_factory=list, description="Models/variants and UDI-DIs in scope."
    )
    intended_purpose: Text | None = None
    indications: list[Line] = Field(default_factory=list)
    contraindications: list[Line] = Field(default_factory=list)
    target_population: Text | None = None
    claims: list[Line] = Field(default_factory=list, description="Clinical claims made.")
    equivalence: Equivalence | None = None
    state_of_the_art: StateOfTheArt | None = None
    complaint_summary: Text | None = Field(
        default=None, description="The manufacturer's complaint, vigilance and FSCA summary."
    )
    pmcf_summary: Text | None = Field(
        default=None, description="Clinical data and PMCF results summary."
    )
    usage_data: Text | None = Field(
        default=None, description="Units sold / patients treated (denominators), by period."
    )
    benefit_risk: Text | None = Field(default=None, description="Benefit-risk determination.")
    conclusions: Text | None = Field(default=None, description="Overall conclusions, actions.")
    evaluators: list[Evaluator] = Field(default_factory=list)
    approvers: list[Approver] = Field(default_factory=list)
    next_update: NextUpdate | None = None
    change_history: list[ChangeEntry] = Field(default_factory=list)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"this cerflow reads schema_version {SCHEMA_VERSION}, not {value!r}; "
                "see `cerflow inputs schema`"
            )
        return value


class CerInputsOut(BaseModel):
    """A product's stored inputs as the API returns them."""

    product_kind: Literal["drug", "device"]
    product_ref: str
    updated_at: UtcDatetime
    updated_by: str
    is_cer: bool
    missing_for_cer: list[str]
    inputs: CerInputs


# What makes the document a Clinical Evaluation Report rather than a data summary:
# (field, label a reader understands). MEDDEV 2.7/1 rev 4 A9 sections 2-4, 7-10, 12-13.
CER_REQUIRED: tuple[tuple[str, str], ...] = (
    ("description", "device/product description"),
    ("intended_purpose", "intended purpose"),
    ("indications", "indications"),
    ("claims", "clinical claims"),
    ("equivalence", "equivalence statement"),
    ("state_of_the_art", "state of the art"),
    ("benefit_risk", "benefit-risk determination"),
    ("conclusions", "conclusions"),
    ("evaluators", "evaluators with qualifications and declarations of interest"),
)


def missing_for_cer(inputs: CerInputs | None) -> list[str]:
    """The labels of the inputs still missing before the document is a CER (in order)."""
    if inputs is None:
        return [label for _, label in CER_REQUIRED]
    return [label for name, label in CER_REQUIRED if not getattr(inputs, name)]


# --- errors ------------------------------------------------------------------------------


class CerInputsError(CerflowError, ValueError):
    """CER inputs that do not validate; `errors` holds one "field: why" line per problem."""

    status_code = 422

    def __init__(self, where: str, errors: list[str]) -> None:
        self.where = where
        self.errors = errors
        shown = "; ".join(errors[:20]) + (
            f"; and {len(errors) - 20} more" if len(errors) > 20 else ""
        )
        super().__init__(f"{where}: invalid CER inputs: {shown}")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in {"list[...]", "literal[1]"}:
            continue
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field (check the spelling; `cerflow inputs schema` lists them)",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must not contain control characters (a name or reference is "
    "one line)",
}


def error_lines(exc: ValidationError) -> list[str]:
    """'evaluators[0].declaration_of_interest: required' per pydantic error."""
    lines = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        message = _MESSAGES.get(kind) or str(err["msg"]).removeprefix("Value error, ")
        if kind == "string_too_long":
            message = f"too long (at most {err.get('ctx', {}).get('max_length')} characters)"
        lines.append(f"{_loc(tuple(err['loc']))}: {message}")
    return lines


def parse_inputs(data: Any, where: str = "CER inputs") -> CerInputs:
    """Validate decoded data; `CerInputsError` names every bad field."""
    if not isinstance(data, dict):
        raise CerInputsError(
            where, [f"(top level): must be a mapping of fields, not {type(data).__name__}"]
        )
    try:
        return CerInputs.model_validate(data)
    except ValidationError as exc:
        raise CerInputsError(where, error_lines(exc)) from None


def load_inputs(path: Path) -> CerInputs:
    """Read and validate a `.yaml`/`.yml` or `.json` inputs file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise CerInputsError(path.name, ["file name must end in .yaml, .yml or .json"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CerInputsError(path.name, ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise CerInputsError(path.name, [f"not UTF-8 text (byte {exc.start})"]) from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CerInputsError(
                path.name, [f"line {exc.lineno} column {exc.colno}: {exc.msg}"]
            ) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise CerInputsError(path.name, [f"{at}{problem}"]) from None
    return parse_inputs(data, path.name)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the inputs (draft 2020-12, as pydantic writes it)."""
    schema = CerInputs.model_json_schema()
    schema["$id"] = f"https://cerflow.example/schemas/cer-inputs-v{SCHEMA_VERSION}.json"
    return schema
