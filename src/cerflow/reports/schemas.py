"""Report requests and records."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["json", "html", "pdf", "docx"]


class ReportCreate(BaseModel):
    product_ref: str = Field(
        min_length=1, max_length=255, pattern=r"^[^\x00]*$", examples=["DQA", "metformin"]
    )
    product_kind: Literal["drug", "device"] | None = Field(
        default=None, description="Guessed from the reference when omitted"
    )
    since: dt.date | None = None
    until: dt.date | None = None
    formats: list[Format] = Field(default=["json"], min_length=1, max_length=4)


class ReportAccepted(BaseModel):
    job_id: str
    state: str
    status_url: str


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    product_kind: str
    product_ref: str
    title: str
    formats: list[str]
    created_at: dt.datetime
