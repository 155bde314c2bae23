"""Feedback bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cerflow.text_rules import FREE_TEXT
from cerflow.timestamps import UtcDatetime


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rating": 4, "comment": "Recall section is clear."}]}
    )
    rating: int = Field(ge=1, le=5, description="1 (useless) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=5000, pattern=FREE_TEXT)


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    report_ref: str
    user_id: int | None
    rating: int
    comment: str | None
    created_at: UtcDatetime
