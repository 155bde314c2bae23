"""A user's alerts, newest first, and their acknowledgement.

Alerts are personal: each user sees and acknowledges their own. An admin may read
another user's list (`user_id`) to answer "did this person get told?", but acknowledging
stays with the owner, so an ack always means the person warned has seen it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from cerflow.alerts import service
from cerflow.api import API_PREFIX
from cerflow.api.deps import SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, NOT_FOUND
from cerflow.timestamps import UtcDatetime

router = APIRouter(prefix=f"{API_PREFIX}/alerts", tags=["alerts"], responses={**AUTH_RESPONSES})

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    watched_id: int | None
    product_ref: str
    kind: str
    title: str
    payload: dict[str, Any]
    created_at: UtcDatetime
    acknowledged_at: UtcDatetime | None


@router.get("", response_model=list[AlertOut])
def list_alerts(
    principal: ViewerUser,
    session: SessionDep,
    user_id: Annotated[
        int | None,
        Query(ge=1, le=2**63 - 1, description="Another user's alerts (admin only)"),
    ] = None,
    unacknowledged: Annotated[bool, Query(description="Only alerts not yet acknowledged")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    return service.list_for(
        session=session,
        principal=principal,
        user_id=user_id,
        unacknowledged=unacknowledged,
        limit=limit,
        offset=offset,
    )


@router.post("/{alert_id}/ack", response_model=AlertOut, responses={**NOT_FOUND})
def acknowledge_alert(alert_id: AlertId, principal: ViewerUser, session: SessionDep) -> Any:
    return service.acknowledge(session=session, user_id=principal.user_id, alert_id=alert_id)
