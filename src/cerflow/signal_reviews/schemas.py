from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cerflow.text_rules import FREE_TEXT, IDENTIFIER
from cerflow.timestamps import UtcDatetime

Decision = Literal["validated", "refuted", "needs_review"]
DECISIONS: tuple[Decision, ...] = ("validated", "refuted", "needs_review")


class ReviewCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event": "Rhabdomyolysis",
                    "decision": "validated",
                    "reason": "Labelled risk; 12 of 14 cases with CK > 10x ULN on case review.",
                }
            ]
        }
    )
    event: str = Field(min_length=1, max_length=500, pattern=IDENTIFIER)
    decision: Decision
    # A decision without a reason cannot be defended; 10 characters stop "ok" and "n/a".
    reason: str = Field(min_length=10, max_length=4000, pattern=FREE_TEXT)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_kind: str
    product_ref: str
    event: str
    decision: Decision
    reason: str
    user_email: str
    created_at: UtcDatetime
