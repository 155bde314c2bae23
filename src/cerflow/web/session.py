"""The browser session: a signed cookie instead of a JWT in JavaScript's reach.

Why a cookie: a bearer token kept by page scripts is readable by any injected script; an
HttpOnly cookie is not. Why signed and not stored: the API already answers "is this user's
grant still valid?" with the token version (`cerflow.auth.tokenversion`), so the cookie
carries the version it was issued under and a password change, a role change or a
deactivation ends every browser session at once, with no session table to clean.

CSRF: a random token per session, inside the signed cookie and echoed by every form
(`csrf_token` field) and htmx request (`X-CSRF-Token` header). Before sign-in, the login
form uses a double-submit cookie. SameSite=Lax stops most cross-site posts already; the
token covers the rest (e.g. a sibling subdomain).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.config import Settings

SESSION_COOKIE = "cerflow_session"
LOGIN_CSRF_COOKIE = "cerflow_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SALT = "cerflow.web.session.v1"


@dataclass(frozen=True, slots=True)
class WebSession:
    user_id: int
    role: Role
    token_version: int
    csrf: str
    issued_at: int

    def principal(self) -> Principal:
        return Principal(
            kind="user",
            user_id=self.user_id,
            role=self.role,
            token_version=self.token_version,
        )


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt=_SALT)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def issue(settings: Settings, *, user_id: int, role: Role, token_version: int) -> str:
    """The cookie value for a user who has just signed in (a fresh CSRF token each time)."""
    payload = {
        "u": user_id,
        "r": role.value,
        "v": token_version,
        "c": new_token(),
        "t": int(time.time()),
    }
    return _serializer(settings).dumps(payload)


def read(settings: Settings, raw: str | None) -> WebSession | None:
    """The session in a cookie, or None when absent, forged, expired or malformed."""
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=settings.web_session_seconds)
        return WebSession(
            user_id=int(data["u"]),
            role=Role(data["r"]),
            token_version=int(data["v"]),
            csrf=str(data["c"]),
            issued_at=int(data["t"]),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; an absent token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
