"""Report versions, reviews, approvals and audit rows as the API shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cerflow.narrative.change_facts import ChangesFacts
from cerflow.timestamps import UtcDatetime


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_kind: str
    product_ref: str
    number: int
    report_id: str
    state: Literal["draft", "approved"]
    title: str
    facts_sha256: str
    generated_by: str
    generated_at: UtcDatetime
    approved_by: str | None
    approved_at: UtcDatetime | None
    approval_note: str | None
    snapshots: list[dict[str, Any]]


class VersionDetail(VersionOut):
    changes: ChangesFacts | None = Field(
        default=None, description="Changes since the previous version (none for version 1)"
    )


class ReviewIn(BaseModel):
    comment: str = Field(default="", max_length=4000)


class ApproveIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"facts_sha256": "9ac24ad2...", "note": "released"}]}
    )

    facts_sha256: str = Field(
        min_length=64,
        max_length=64,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The facts hash of the version you reviewed; refused (409) if it differs",
    )
    note: str | None = Field(default=None, max_length=4000)


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDatetime
    action: str
    actor: str
    actor_id: int | None
    version_id: int | None
    report_id: str | None
    product_kind: str | None
    product_ref: str | None
    facts_sha256: str | None
    snapshots: list[dict[str, Any]]
    detail: dict[str, Any]
