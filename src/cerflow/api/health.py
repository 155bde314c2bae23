"""Liveness (the process answers) and readiness (it can serve: its database answers and
its schema is not behind the code).

A replica whose database has not been migrated to this release's revision is not ready
(503, `migrations: behind`): it would answer 500 on the first query touching a new
column. A database migrated *past* this code (a newer release's migration ran first, as
in a rolling update) keeps it ready: migrations are additive, so older code still works.

Redis is reported but does not decide readiness: without it the API keeps serving (cache
bypassed, rate limits fail open), and a probe that failed on Redis would take every replica
out of the load balancer at once - turning a cache outage into a full outage. Such a
replica answers 200 with `status: degraded`; `CerflowRedisDown` and
`CerflowRedisUnreachableFromApi` alert on the outage itself.
"""

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
    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "unavailable"]
    redis: Literal["ok", "unavailable", "not configured"]
    migrations: Literal["current", "behind", "ahead", "empty", "unknown"]


@router.get("/health/live", response_model=Live)
def live() -> Live:
    return Live()


@router.get(
    "/health/ready",
    response_model=Ready,
    responses={
        503: {
            "model": Ready,
            "description": "The database does not answer, or its schema is behind this code",
        }
    },
)
def ready(state: StateDep) -> JSONResponse:
    database: Literal["ok", "unavailable"] = "ok"
    schema: Literal["current", "behind", "ahead", "empty", "unknown"] = "unknown"
    try:
        with state.session_factory() as session:
            session.execute(text("SELECT 1"))
            from cerflow.store import migrate  # Alembic: only when readiness is asked

            schema = migrate.schema_state(session.connection())
    except Exception:
        database = "unavailable"
    redis_status: Literal["ok", "unavailable", "not configured"] = "not configured"
    if state.redis is not None:
        redis_status = "ok" if state.redis.ping() else "unavailable"
    status: Literal["ok", "degraded", "unavailable"] = "ok"
    if database != "ok" or schema in ("behind", "empty"):
        status = "unavailable"
    elif redis_status == "unavailable":
        status = "degraded"
    body = Ready(status=status, database=database, redis=redis_status, migrations=schema)
    return JSONResponse(body.model_dump(), status_code=503 if status == "unavailable" else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(_request: Request) -> Response:
    data, content_type = render_latest()
    return Response(content=data, media_type=content_type)
