"""Report requests and records."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cerflow.store.keys import srn_key, udi_di_key
from cerflow.text_rules import IDENTIFIER
from cerflow.timestamps import UtcDatetime

Format = Literal["json", "html", "pdf", "docx"]


class ReportCreate(BaseModel):
    product_ref: str = Field(
        min_length=1, max_length=255, pattern=IDENTIFIER, examples=["DQA", "metformin"]
    )
    product_kind: Literal["drug", "device"] | None = Field(
        default=None, description="Guessed from the reference when omitted"
    )
    since: dt.date | None = None
    until: dt.date | None = None
    formats: list[Format] = Field(default=["json"], min_length=1, max_length=4)
    polish: bool = Field(
        default=True,
        description="Let the server's LLM (when one is configured) polish the narrative; "
        "every number it writes is checked against facts.json. false keeps the template text.",
    )
    udi_di: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Devices: link EUDAMED records with these UDI-DIs or Basic UDI-DIs.",
    )
    srn: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Devices: link EUDAMED records of these manufacturer SRNs "
        "(e.g. DE-MF-000001234).",
    )

    @field_validator("udi_di")
    @classmethod
    def _udi_dis(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(udi_di_key(x) for x in v))

    @field_validator("srn")
    @classmethod
    def _srns(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(srn_key(x) for x in v))

    background: Literal["store", "openfda"] | None = Field(
        default=None,
        description="Disproportionality background: the local store, or the whole FAERS "
        "database as counted by openFDA (drugs only); default: the server's "
        "CERFLOW_SIGNAL_BACKGROUND",
    )

    @model_validator(mode="after")
    def _window_in_order(self) -> ReportCreate:
        # A validator, not a check in the route: the 422 then has FastAPI's documented
        # validation-error shape (loc/msg/type) like every other bad field.
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}; swap them")
        return self


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
    created_at: UtcDatetime
