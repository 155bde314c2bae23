"""Appraisal of included records after MEDDEV 2.7/1 rev 4, Appendix A6.

Why it looks like this:
- MEDDEV A6 appraises each data set twice: its *suitability* for the evaluation of the
  product under evaluation, and its *contribution* to demonstrating safety and
  performance. Suitability is graded 1 (best) to 3 on four criteria (D: the device or
  drug; A: the application/setting; P: the patient population; R: the report or data
  collation); contribution is yes (1) or no (2) on five (T: design; O: outcome measures;
  F: follow-up; S: statistical significance; C: clinical significance). The labels below
  follow the example table of A6.
- MEDDEV leaves the weighting to the evaluator's documented method. Ours, stated in the
  report: each criterion has a weight (`SUITABILITY_WEIGHTS`, `CONTRIBUTION_WEIGHTS`);
  grade 1 earns the full weight, grade 2 half of it (suitability) or nothing
  (contribution), grade 3 nothing; the overall weight is the points earned as a whole
  percentage of the maximum. A record is of *high* weight at 75 or more, *moderate* at
  50 or more, else *low*; a D3 record (another device or drug) is never above *low*:
  it cannot show the product's own safety.
- Only records that are INCLUDED may be appraised (current full-text decision include;
  shared with `literature.screening`). Appraisals are append-only: a new appraisal of a
  record is a new row, the newest (largest id) is current, with who and when.
- Safety findings extracted from the record (event term, n of N, population) travel with
  the appraisal; the report puts them beside the post-market SDRs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cerflow.errors import CerflowError, NotFoundError
from cerflow.literature.actors import actor_email
from cerflow.literature.models import (
    LiteratureAppraisal,
    LiteratureRecordRow,
    LiteratureScreeningDecision,
)
from cerflow.literature.prisma import current_decisions

SUITABILITY_LABELS: dict[str, dict[str, str]] = {
    "device": {
        "D1": "Actual device or drug under evaluation",
        "D2": "Equivalent device or drug",
        "D3": "Other device or drug",
    },
    "application": {
        "A1": "Same use and setting",
        "A2": "Minor deviation in use or setting",
        "A3": "Major deviation in use or setting",
    },
    "population": {
        "P1": "Applicable patient population",
        "P2": "Slightly different population",
        "P3": "Different population",
    },
    "report": {
        "R1": "High-quality report or data collation",
        "R2": "Minor deficiencies",
        "R3": "Insufficient information",
    },
}
CONTRIBUTION_LABELS: dict[str, dict[str, str]] = {
    "design": {"T1": "Design appropriate (e.g. controlled trial)", "T2": "Design not appropriate"},
    "outcomes": {"O1": "Relevant outcome measures", "O2": "Outcomes not relevant"},
    "follow_up": {"F1": "Follow-up long enough", "F2": "Follow-up too short"},
    "statistics": {"S1": "Statistically significant", "S2": "Not significant or not tested"},
    "clinical_significance": {"C1": "Clinically significant", "C2": "Not clinically significant"},
}
SUITABILITY_WEIGHTS = {"device": 3, "application": 2, "population": 2, "report": 2}
CONTRIBUTION_WEIGHTS = {
    "design": 2,
    "outcomes": 1,
    "follow_up": 1,
    "statistics": 1,
    "clinical_significance": 2,
}
HIGH_AT = 75
MODERATE_AT = 50
WeightClass = Literal["high", "moderate", "low"]


class AppraisalError(CerflowError, ValueError):
    """An appraisal that cannot be stored: names each problem and how to fix it."""

    status_code = 422

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


class Suitability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: Literal["D1", "D2", "D3"]
    application: Literal["A1", "A2", "A3"]
    population: Literal["P1", "P2", "P3"]
    report: Literal["R1", "R2", "R3"]


class Contribution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    design: Literal["T1", "T2"]
    outcomes: Literal["O1", "O2"]
    follow_up: Literal["F1", "F2"]
    statistics: Literal["S1", "S2"]
    clinical_significance: Literal["C1", "C2"]


class Finding(BaseModel):
    """One safety finding of the record: `events` of `patients` in `population`."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, max_length=200, description="Event term (MedDRA PT)")
    events: int | None = Field(default=None, ge=0, description="Patients with the event (n)")
    patients: int | None = Field(default=None, ge=1, description="Patients observed (N)")
    population: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _frequency(self) -> Finding:
        self.event = " ".join(self.event.split())
        if not self.event:
            raise ValueError("event: give the event term")
        if (self.events is None) != (self.patients is None):
            raise ValueError("give both events (n) and patients (N) for a frequency, or neither")
        if self.events is not None and self.patients is not None and self.events > self.patients:
            raise ValueError(
                f"events {self.events} is more than patients {self.patients}: n cannot exceed N"
            )
        return self


class AppraisalIn(BaseModel):
    """What an evaluator submits for one record."""

    model_config = ConfigDict(extra="forbid")

    suitability: Suitability
    contribution: Contribution
    findings: list[Finding] = Field(default_factory=list, max_length=200)
    note: str | None = Field(default=None, max_length=4000)


class AppraisalOut(BaseModel):
    id: int
    record_id: int
    suitability: Suitability
    contribution: Contribution
    findings: list[Finding]
    weight: int
    weight_class: WeightClass
    note: str | None
    appraised_by: str
    appraised_at: dt.datetime


def parse_appraisal(data: Any, where: str) -> AppraisalIn:
    """Validate; every problem as "field: why", with the allowed grades."""
    try:
        return AppraisalIn.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "appraisal"
            problems.append(f"{loc}: {str(e['msg']).removeprefix('Value error, ')}")
        raise AppraisalError(f"{where}: invalid appraisal", problems) from None


def overall_weight(suitability: Suitability, contribution: Contribution) -> tuple[int, WeightClass]:
    """(weight 0-100, class) by the documented method of the module docstring."""
    earned = 0.0
    maximum = 0.0
    for name, w in SUITABILITY_WEIGHTS.items():
        grade = int(getattr(suitability, name)[1])
        earned += w * {1: 1.0, 2: 0.5, 3: 0.0}[grade]
        maximum += w
    for name, w in CONTRIBUTION_WEIGHTS.items():
        grade = int(getattr(contribution, name)[1])
        earned += w if grade == 1 else 0.0
        maximum += w
    # Half-up rounding (not banker's), so the stated rule is the one applied.
    weight = int(earned * 100 / maximum + 0.5)
    if suitability.device == "D3":
        return weight, "low"
    if weight >= HIGH_AT:
        return weight, "high"
    return weight, ("moderate" if weight >= MODERATE_AT else "low")


def _check_included(session: Session, record: LiteratureRecordRow) -> None:
    if record.duplicate_of_id is not None:
        raise AppraisalError(
            f"record {record.id}",
            [
                f"it is a duplicate of record {record.duplicate_of_id}; appraise that record "
                "(only unique records are screened and appraised)"
            ],
        )
    rows = session.scalars(
        select(LiteratureScreeningDecision).where(
            LiteratureScreeningDecision.record_id == record.id
        )
    )
    current = current_decisions(rows).get((record.id, "full_text"))
    if current is None or current.decision != "include":
        state = "no full-text decision" if current is None else "full-text decision exclude"
        raise AppraisalError(
            f"record {record.id}",
            [
                f"not included ({state}); only records whose current full-text decision is "
                "include can be appraised: screen it first (cerflow literature screen)"
            ],
        )


def record_owner(*, session: Session, record_id: int) -> tuple[str, str] | None:
    """(product kind, product ref) of the search a record belongs to; None: no record."""
    from cerflow.literature.models import LiteratureSearch

    row = session.execute(
        select(LiteratureSearch.product_kind, LiteratureSearch.product_ref)
        .join(LiteratureRecordRow, LiteratureRecordRow.search_id == LiteratureSearch.id)
        .where(LiteratureRecordRow.id == record_id)
    ).first()
    return (str(row[0]), str(row[1])) if row is not None else None


def appraise(
    *, session: Session, record_id: int, data: Any, user_id: int | None, where: str = "appraisal"
) -> LiteratureAppraisal:
    """Validate `data`, check the record is included, store a new appraisal row.

    Raises `AppraisalError` (422) or `NotFoundError` (404) before anything is written."""
    parsed = parse_appraisal(data, where)
    record = session.get(LiteratureRecordRow, record_id)
    if record is None:
        raise NotFoundError(f"no literature record {record_id}")
    _check_included(session, record)
    weight, weight_class = overall_weight(parsed.suitability, parsed.contribution)
    row = LiteratureAppraisal(
        record_id=record_id,
        suitability=parsed.suitability.model_dump(mode="json"),
        contribution=parsed.contribution.model_dump(mode="json"),
        weight=weight,
        weight_class=weight_class,
        findings=[f.model_dump(mode="json") for f in parsed.findings],
        note=parsed.note,
        appraised_by=user_id,
        appraised_by_email=actor_email(session, user_id),
    )
    session.add(row)
    session.flush()
    return row


def to_out(row: LiteratureAppraisal) -> AppraisalOut:
    return AppraisalOut(
        id=row.id,
        record_id=row.record_id,
        suitability=Suitability.model_validate(row.suitability),
        contribution=Contribution.model_validate(row.contribution),
        findings=[Finding.model_validate(f) for f in row.findings],
        weight=int(row.weight or 0),
        weight_class=row.weight_class or "low",
        note=row.note,
        appraised_by=row.appraised_by_email,
        appraised_at=row.appraised_at,
    )


def current_appraisals(*, session: Session, search_id: int) -> dict[int, LiteratureAppraisal]:
    """Record id -> its newest appraisal, over the records of one search."""
    stmt = (
        select(LiteratureAppraisal)
        .join(LiteratureRecordRow, LiteratureRecordRow.id == LiteratureAppraisal.record_id)
        .where(LiteratureRecordRow.search_id == search_id)
        .order_by(LiteratureAppraisal.id)
    )
    out: dict[int, LiteratureAppraisal] = {}
    for row in session.scalars(stmt):
        out[row.record_id] = row  # ascending ids: the last one is the newest
    return out


def history(*, session: Session, record_id: int) -> list[LiteratureAppraisal]:
    """Every appraisal of a record, oldest first."""
    stmt = (
        select(LiteratureAppraisal)
        .where(LiteratureAppraisal.record_id == record_id)
        .order_by(LiteratureAppraisal.id)
    )
    return list(session.scalars(stmt))
