"""Administration: users and roles, API keys (the secret shown once).

The same service functions as the admin API (`/api/v1/admin/...`), so the last-admin rule
and the sign-out of a user whose rights change hold here too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cerflow.api.deps import SessionDep
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.auth.schemas import ApiKeyCreate, UserCreate
from cerflow.errors import CerflowError
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.form_errors import first_errors
from cerflow.web.render import page
from cerflow.web.session import WebSession

router = APIRouter(include_in_schema=False)
ROLES = [r.value for r in Role]


def _admin_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    new_key: str | None = None,
    message: str | None = None,
) -> Response:
    return page(
        request,
        "admin.html.j2",
        ws=ws,
        users=auth_service.list_users(session=session),
        keys=auth_service.list_api_keys(session=session),
        roles=ROLES,
        errors=errors or {},
        new_key=new_key,
        message=message,
        status_code=status_code,
    )


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, ws: PageSession, session: SessionDep) -> Response:
    require_role(ws, Role.ADMIN)
    return _admin_page(request, ws, session)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=16)] = "viewer",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ADMIN)
    try:
        body = UserCreate.model_validate({"email": email, "password": password, "role": role})
        auth_service.create_user(
            session=session, email=body.email, password=body.password, role=body.role
        )
    except ValidationError as exc:
        return _admin_page(
            request, ws, session, status_code=422, errors=first_errors(exc, prefix="user_")
        )
    except CerflowError as exc:
        return _admin_page(
            request, ws, session, status_code=exc.status_code, errors={"user_email": str(exc)}
        )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def update_user(
    request: Request,
    user_id: int,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    role: Annotated[str, Form(max_length=16)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ADMIN)
    if role not in ROLES:
        return _admin_page(
            request, ws, session, status_code=422, errors={f"role_{user_id}": "choose a role"}
        )
    try:
        user = auth_service.get_user(session=session, user_id=user_id)
        auth_service.update_user(
            session=session, user=user, role=Role(role), is_active=active == "on"
        )
    except CerflowError as exc:
        session.rollback()
        return _admin_page(
            request, ws, session, status_code=exc.status_code, errors={f"role_{user_id}": str(exc)}
        )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/api-keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "viewer",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ADMIN)
    try:
        body = ApiKeyCreate.model_validate({"name": name, "role": role})
    except ValidationError as exc:
        return _admin_page(
            request, ws, session, status_code=422, errors=first_errors(exc, prefix="key_")
        )
    _row, key = auth_service.create_api_key(
        session=session, name=body.name, role=body.role, user_id=ws.user_id
    )
    # Shown once, in this response only; the page is not cached (no-store).
    return _admin_page(request, ws, session, new_key=key, status_code=201)


@router.post("/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(
    request: Request, key_id: int, ws: PageSession, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ADMIN)
    if auth_service.revoke_api_key(session=session, key_id=key_id) is None:
        return _admin_page(
            request, ws, session, status_code=404, errors={"keys": f"no API key {key_id}"}
        )
    return RedirectResponse("/admin", status_code=303)
