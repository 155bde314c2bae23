"""Sign in and sign out.

Sign-in goes through the same throttle as the API's `/auth/login` (per account and per
address), so the page is no side door around it. "Forgot password" is left to admins: a
reset by e-mail needs an outbound mail setup most installations of a regulated tool do not
allow; the page says whom to ask.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cerflow import unit_of_work
from cerflow.api.deps import AppState
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.auth.service import AuthError
from cerflow.auth.throttle import TooManyAttempts
from cerflow.web import session as web_session
from cerflow.web.deps import CsrfField, PageSession, check_csrf
from cerflow.web.render import page

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link borrow our login."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/"
    return value


def _secure(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    token = request.cookies.get(web_session.LOGIN_CSRF_COOKIE) or web_session.new_token()
    resp = page(request, "login.html.j2", ws=None, csrf=token, next=safe_next(next), error=None)
    resp.set_cookie(
        web_session.LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=3600,
    )
    return resp


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    state: AppState = request.app.state.cerflow
    cookie_token = request.cookies.get(web_session.LOGIN_CSRF_COOKIE)
    target = safe_next(next)

    def again(message: str, status_code: int) -> Response:
        token = cookie_token or web_session.new_token()
        return page(
            request,
            "login.html.j2",
            ws=None,
            csrf=token,
            next=target,
            error=message,
            email=email,
            status_code=status_code,
        )

    if not web_session.same_token(cookie_token, csrf_token):
        return again("The sign-in form expired. Please try again.", 403)
    if not email.strip() or not password:
        return again("Enter your e-mail address and your password.", 422)
    try:
        with unit_of_work.unit_of_work(state.session_factory) as session:
            user = auth_service.authenticate_throttled(
                session=session,
                throttle=state.login_throttle,
                email=email,
                password=password,
                ip=_client_ip(request),
            )
            uid, role, version = user.id, Role(user.role), int(user.token_version or 0)
    except TooManyAttempts as exc:
        resp = again(
            f"Too many failed sign-ins. Try again in {exc.retry_after} seconds "
            "or ask an administrator to check your account.",
            429,
        )
        resp.headers["retry-after"] = str(exc.retry_after)
        return resp
    except AuthError:
        return again("Incorrect e-mail address or password.", 401)
    cookie = web_session.issue(state.settings, user_id=uid, role=role, token_version=version)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        web_session.SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=state.settings.web_session_seconds,
        path="/",
    )
    resp.delete_cookie(web_session.LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, ws: PageSession, csrf_token: CsrfField = "") -> Response:
    check_csrf(request, ws, csrf_token)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(web_session.SESSION_COOKIE, path="/")
    return resp
