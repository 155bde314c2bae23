"""WebSocket `/api/v1/ws/alerts`: the caller's alerts and job progress, live.

Authenticate with the access token as `?token=` or as the first message
`{"token": "..."}`. Events come from Redis pub/sub, so a worker's progress or an alert
raised anywhere reaches the user whichever API replica they are connected to; without
Redis (embedded default) they come from the in-process hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from cerflow.api import API_PREFIX
from cerflow.api.deps import AppState
from cerflow.auth import service as auth_service
from cerflow.auth import tokenversion
from cerflow.auth.service import AuthError, Principal
from cerflow.jobs import events

router = APIRouter(prefix=f"{API_PREFIX}/ws", tags=["alerts"])

AUTH_TIMEOUT_SECONDS = 10.0


async def _authenticate(ws: WebSocket, state: AppState) -> Principal | None:
    token = ws.query_params.get("token")
    if not token:
        try:
            token = _token_from(await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_SECONDS))
        except (TimeoutError, WebSocketDisconnect):
            token = ""
    if not token:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="send an access token")
        return None
    try:
        principal = auth_service.principal_from_access_token(settings=state.settings, token=token)
        await tokenversion.ensure_current(state.session_factory, principal)
        return principal
    except AuthError as exc:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason=str(exc)[:120])
        return None


def _token_from(message: Mapping[str, Any]) -> str:
    """The token of a first message `{"token": "..."}`, sent as a text or a binary frame;
    "" for anything else (a binary frame used to raise KeyError in `receive_json`)."""
    if message.get("type") != "websocket.receive":
        return ""
    raw = message.get("text")
    if raw is None:
        raw = (message.get("bytes") or b"").decode("utf-8", "replace")
    try:
        first = json.loads(raw)
    except ValueError:
        return ""
    token = first.get("token") if isinstance(first, dict) else None
    return token if isinstance(token, str) else ""


def _for(principal: Principal, event: dict[str, Any]) -> bool:
    return event.get("user_id") == principal.user_id


async def _pump_redis(ws: WebSocket, state: AppState, principal: Principal) -> None:
    assert state.settings.redis_url
    import redis.asyncio as aredis  # only with CERFLOW_REDIS_URL, not at the API's start

    client = aredis.Redis.from_url(state.settings.redis_url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(events.channel(state.settings))
        await ws.send_json({"type": "ready", "user_id": principal.user_id})
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue
            try:
                event = json.loads(msg["data"])
            except (ValueError, TypeError):
                continue
            if _for(principal, event):
                await ws.send_json(event)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        await client.aclose()


async def _pump_local(ws: WebSocket, principal: Principal) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    def listener(event: dict[str, Any]) -> None:
        if _for(principal, event):
            loop.call_soon_threadsafe(queue.put_nowait, event)

    unsubscribe = events.local_hub.subscribe(listener)
    try:
        await ws.send_json({"type": "ready", "user_id": principal.user_id})
        while True:
            await ws.send_json(await queue.get())
    finally:
        unsubscribe()


async def _watch_disconnect(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await ws.receive_text()


async def stream_events(ws: WebSocket, state: AppState, principal: Principal) -> None:
    """Send the principal's events on an accepted socket until the client goes away.

    Shared by the API socket (token auth) and the pages' `/live` socket (cookie auth), so
    the two never disagree on which events a user sees."""
    pump = (
        _pump_redis(ws, state, principal)
        if state.settings.redis_url
        else _pump_local(ws, principal)
    )
    tasks = [asyncio.create_task(pump), asyncio.create_task(_watch_disconnect(ws))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


@router.websocket("/alerts")
async def alerts_ws(ws: WebSocket) -> None:
    state: AppState = ws.app.state.cerflow
    await ws.accept()
    principal = await _authenticate(ws, state)
    if principal is None:
        return
    await stream_events(ws, state, principal)
