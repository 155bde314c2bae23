"""Liveness (the process answers) and readiness (its database and Redis answer)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from cerflow.api.deps import StateDep
from cerflow.observability.metrics import render_latest

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    redis: Literal["ok", "unavailable", "not configured"]


@router.get("/health/live", response_model=Live)
def live() -> Live:
    return Live()


@router.get(
    "/health/ready",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "A dependency does not answer"}},
)
def ready(state: StateDep) -> JSONResponse:
    database: Literal["ok", "unavailable"] = "ok"
    try:
        with state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        database = "unavailable"
    redis_status: Literal["ok", "unavailable", "not configured"] = "not configured"
    if state.redis is not None:
        redis_status = "ok" if state.redis.ping() else "unavailable"
    ok = database == "ok" and redis_status != "unavailable"
    body = Ready(status="ok" if ok else "unavailable", database=database, redis=redis_status)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(_request: Request) -> Response:
    data, content_type = render_latest()
    return Response(content=data, media_type=content_type)
