"""Watch list and notifications: what a user watches, and where their alerts go.

Alerts reach the inbox and the live badge always; e-mail when the server has SMTP
configured (per user, to the account's address); webhooks are the user's own, registered
through the same service as the API so the SSRF policy and the shown-once secret hold
here too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cerflow.api.deps import SessionDep
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.errors import CerflowError
from cerflow.products import service as products
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.render import page
from cerflow.web.session import WebSession
from cerflow.webhooks import service as webhooks

router = APIRouter(include_in_schema=False)


def _watch_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    new_secret: str | None = None,
    status_code: int = 200,
) -> Response:
    settings = request.app.state.cerflow.settings
    user = auth_service.get_user(session=session, user_id=ws.user_id)
    hooks = webhooks.list_for_user(session=session, user_id=ws.user_id)
    return page(
        request,
        "watching.html.j2",
        ws=ws,
        watched=products.list_watched(session=session, user_id=ws.user_id),
        hooks=hooks,
        deliveries={
            h.id: webhooks.recent_deliveries(session=session, user_id=ws.user_id, hook_id=h.id)[:3]
            for h in hooks
        },
        email=user.email,
        email_enabled=bool(settings.smtp_host),
        errors=errors or {},
        form=form or {"url": ""},
        new_secret=new_secret,
        can_act=ws.role.allows(Role.ANALYST),
        status_code=status_code,
    )


@router.get("/watching", response_class=HTMLResponse)
def watching(request: Request, ws: PageSession, session: SessionDep) -> Response:
    return _watch_page(request, ws, session)


@router.post("/watching/{item_id}/unwatch")
def unwatch(
    request: Request, item_id: int, ws: PageSession, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    products.unwatch(session=session, user_id=ws.user_id, item_id=item_id)
    return RedirectResponse("/watching", status_code=303)


@router.post("/watching/webhooks", response_class=HTMLResponse)
def add_webhook(
    request: Request,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    form = {"url": url}
    if not url.strip():
        return _watch_page(
            request,
            ws,
            session,
            errors={"url": "Give the address that receives the alerts (https://...)."},
            form=form,
            status_code=422,
        )
    try:
        hook = webhooks.create(
            session=session,
            user_id=ws.user_id,
            url=url.strip(),
            events=[],  # every alert (new signal or anomaly) of the user's watched products
            settings=request.app.state.cerflow.settings,
        )
    except CerflowError as exc:
        session.rollback()
        return _watch_page(
            request, ws, session, errors={"url": str(exc)}, form=form, status_code=exc.status_code
        )
    # The signing secret is shown in this response only (the page is no-store).
    return _watch_page(request, ws, session, new_secret=hook.secret, status_code=201)


@router.post("/watching/webhooks/{hook_id}/enable")
def enable_webhook(
    request: Request, hook_id: int, ws: PageSession, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    webhooks.enable(session=session, user_id=ws.user_id, hook_id=hook_id)
    return RedirectResponse("/watching", status_code=303)


@router.post("/watching/webhooks/{hook_id}/delete")
def delete_webhook(
    request: Request, hook_id: int, ws: PageSession, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    webhooks.delete(session=session, user_id=ws.user_id, hook_id=hook_id)
    return RedirectResponse("/watching", status_code=303)
