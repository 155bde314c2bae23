"""Job bodies as the API shows them (read from the jobs table, never the result backend)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cerflow.timestamps import UtcDatetime


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    state: str = Field(description="queued, running, retrying, succeeded, failed or cancelled")
    progress: int = Field(ge=0, le=100)
    step: str | None
    attempts: int
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    heartbeat_at: UtcDatetime | None
