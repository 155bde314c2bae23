"""Users register webhooks; the secret is shown once; the delivery log explains failures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, SessionDep, SettingsDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, NOT_FOUND
from cerflow.timestamps import UtcDatetime
from cerflow.webhooks import service

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"], responses={**AUTH_RESPONSES})

HookId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class WebhookCreate(BaseModel):
    url: AnyHttpUrl = Field(examples=["https://example.org/cerflow-hook"])
    events: list[Annotated[str, Field(max_length=64, pattern=r"^[a-z.]+$")]] = Field(
        default_factory=list, max_length=10, description="Empty: every event"
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    active: bool
    consecutive_failures: int
    disabled_reason: str | None
    created_at: UtcDatetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key; shown only now")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    event: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: UtcDatetime


@router.post("", response_model=WebhookCreated, status_code=201, responses={**BODY_ERRORS})
def create_webhook(
    body: WebhookCreate, user: AnalystUser, session: SessionDep, settings: SettingsDep
) -> Any:
    # A URL to an internal address raises WebhookURLRefused: 422 through the error handler.
    return service.create(
        session=session,
        user_id=user.user_id,
        url=str(body.url),
        events=body.events,
        settings=settings,
    )


@router.get("", response_model=list[WebhookOut])
def list_webhooks(user: ViewerUser, session: SessionDep) -> Any:
    return service.list_for_user(session=session, user_id=user.user_id)


@router.post("/{hook_id}/enable", response_model=WebhookOut, responses={**NOT_FOUND})
def enable_webhook(hook_id: HookId, user: AnalystUser, session: SessionDep) -> Any:
    return service.enable(session=session, user_id=user.user_id, hook_id=hook_id)


@router.get("/{hook_id}/deliveries", response_model=list[DeliveryOut], responses={**NOT_FOUND})
def list_deliveries(hook_id: HookId, user: ViewerUser, session: SessionDep) -> Any:
    return service.recent_deliveries(
        session=session, user_id=user.user_id, hook_id=hook_id, limit=100
    )


@router.delete("/{hook_id}", status_code=204, responses={**NOT_FOUND})
def delete_webhook(hook_id: HookId, user: AnalystUser, session: SessionDep) -> Response:
    service.delete(session=session, user_id=user.user_id, hook_id=hook_id)
    return Response(status_code=204)
