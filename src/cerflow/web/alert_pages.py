"""The alerts inbox: new signals and anomalies on watched products, acknowledged by their owner."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cerflow.alerts import service as alerts
from cerflow.api.deps import SessionDep
from cerflow.web.deps import CsrfField, PageSession, check_csrf
from cerflow.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/alerts", response_class=HTMLResponse)
def inbox(request: Request, ws: PageSession, session: SessionDep, all: bool = False) -> Response:
    items = alerts.list_for(
        session=session,
        principal=ws.principal(),
        user_id=None,
        unacknowledged=not all,
        limit=100,
        offset=0,
    )
    return page(request, "alerts.html.j2", ws=ws, alerts=items, show_all=all)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request,
    alert_id: int,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    alerts.acknowledge(session=session, user_id=ws.user_id, alert_id=alert_id)
    return RedirectResponse("/alerts", status_code=303)
