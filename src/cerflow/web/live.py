"""`/live`: the pages' WebSocket for job progress and new alerts.

The API socket wants a bearer token, which pages never hold (the session is an HttpOnly
cookie). This socket takes the session cookie instead, and refuses a handshake whose
Origin is another site: browsers send cookies on cross-site WebSocket handshakes where
SameSite allows, and a socket is not covered by CSRF tokens (cross-site WebSocket
hijacking).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, status

from cerflow.api.deps import AppState
from cerflow.api.ws import stream_events
from cerflow.auth import tokenversion
from cerflow.auth.service import AuthError
from cerflow.web import session as web_session

router = APIRouter(include_in_schema=False)


def same_origin(origin: str | None, host: str | None) -> bool:
    """True when the page that opened the socket was served by this host."""
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    state: AppState = ws.app.state.cerflow
    if not same_origin(ws.headers.get("origin"), ws.headers.get("host")):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="cross-site socket refused")
        return
    session = web_session.read(state.settings, ws.cookies.get(web_session.SESSION_COOKIE))
    if session is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="sign in first")
        return
    principal = session.principal()
    try:
        await tokenversion.ensure_current(state.session_factory, principal)
    except AuthError:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="sign in again")
        return
    await ws.accept()
    await stream_events(ws, state, principal)
