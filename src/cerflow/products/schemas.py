"""Product search results, product detail and watch-list bodies."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cerflow.text_rules import FREE_TEXT, IDENTIFIER
from cerflow.timestamps import UtcDatetime

Kind = Literal["drug", "device"]


class ProductHit(BaseModel):
    ref: str = Field(description="Device product code or normalized drug key; use it in URLs.")
    kind: Kind
    name: str
    report_count: int
    recall_count: int
    device_count: int
    sources: list[str]


class Counts(BaseModel):
    reports: int
    serious: int
    deaths: int
    by_source: dict[str, int]
    by_event_type: dict[str, int]
    year_only_dates: int
    undated: int


class MonthCount(BaseModel):
    month: str = Field(examples=["2023-04"])
    count: int


class Trend(BaseModel):
    months: int
    direction: str
    p_value: float
    sen_slope_per_month: float
    note: str | None = None


class EventCount(BaseModel):
    term: str
    count: int


class Signal(BaseModel):
    term: str
    a: int = Field(description="Reports with the product and the event")
    prr: float | None
    chi2: float | None
    signal: bool


class RecallOut(BaseModel):
    recall_number: str
    source: str
    classification: str | None
    reason: str | None
    status: str | None
    firm: str | None
    report_date: dt.date | None


class DeviceOut(BaseModel):
    udi_di: str | None
    trade_name: str | None
    risk_class: str | None
    manufacturer_name: str | None
    manufacturer_srn: str | None


class Identification(BaseModel):
    names: list[str]
    manufacturers: list[str]
    devices: list[DeviceOut]


class ProductDetail(BaseModel):
    ref: str
    kind: Kind
    data_version: str = Field(description="Store snapshot version the figures come from")
    counts: Counts
    monthly: list[MonthCount]
    trend: Trend
    top_events: list[EventCount]
    signals: list[Signal]
    recalls: list[RecallOut]
    identification: Identification
    caveat: str = (
        "Spontaneous reports show reporting, not incidence: exposure is unknown, so no "
        "rate can be derived from these counts."
    )


class JobAccepted(BaseModel):
    job_id: str
    kind: str
    state: str
    status_url: str


class WatchedCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"product_ref": "DQA", "note": "pulse oximeters"}]}
    )
    product_ref: str = Field(min_length=1, max_length=255, pattern=IDENTIFIER)
    note: str | None = Field(default=None, max_length=2000, pattern=FREE_TEXT)


class WatchedUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "check monthly"}]})
    note: str | None = Field(default=None, max_length=2000, pattern=FREE_TEXT)


class WatchedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    product_ref: str
    kind: Kind
    note: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
