"""Who is looking at a page, and whether a form post really comes from our page.

Pages answer an unauthenticated visitor with a redirect to the sign-in page (not a 401 as
the API does), and a post without the session's CSRF token with a 403 page.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Form, Request

from cerflow.api.deps import AppState
from cerflow.auth import tokenversion
from cerflow.auth.models import Role
from cerflow.auth.service import AuthError
from cerflow.errors import CerflowError
from cerflow.web import session as web_session
from cerflow.web.session import WebSession


class SignInRequired(CerflowError):
    """Answered with a 303 to /login?next=<the page asked for> (see `pages.install`)."""

    status_code = 401

    def __init__(self, next_path: str) -> None:
        super().__init__("Sign in to see this page.")
        self.next_path = next_path


class PageForbidden(CerflowError):
    """A page the user's role may not see or a post without a valid CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=403)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.cerflow
    return state


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


async def current_session(request: Request) -> WebSession:
    """The signed-in user's session; a revoked grant (password or role change, deactivation)
    is treated as signed out."""
    state = _state(request)
    ws = web_session.read(state.settings, request.cookies.get(web_session.SESSION_COOKIE))
    if ws is None:
        raise SignInRequired(_next_path(request) if request.method == "GET" else "/")
    try:
        await tokenversion.ensure_current(state.session_factory, ws.principal())
    except AuthError:
        raise SignInRequired(_next_path(request)) from None
    request.state.principal = ws.principal()
    structlog.contextvars.bind_contextvars(user_id=ws.user_id)
    return ws


PageSession = Annotated[WebSession, Depends(current_session)]
CsrfField = Annotated[str, Form(max_length=200)]


def require_role(ws: WebSession, role: Role) -> None:
    if not ws.role.allows(role):
        raise PageForbidden(f"this page needs the {role.value} role; yours is {ws.role.value}")


def check_csrf(request: Request, ws: WebSession, form_token: str | None) -> None:
    """Every state-changing request carries the session's token (form field or header)."""
    given = form_token or request.headers.get(web_session.CSRF_HEADER)
    if not web_session.same_token(ws.csrf, given):
        raise PageForbidden(
            "the form has expired or did not come from this site: reload the page and try again"
        )
