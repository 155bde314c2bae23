"""FastAPI app factory; the lifespan owns the engine, session factory and Redis clients.

`create_app()` reads settings from the environment; tests and benchmarks pass their own
settings (and tests a session factory bound to a rolled-back connection). Everything else
- middleware, auth, limits - is the same in every mode.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session, sessionmaker

from cerflow.api.deps import AppState
from cerflow.api.errors import (
    cerflow_error_handler,
    pool_timeout_handler,
    validation_error_handler,
)
from cerflow.api.middleware import (
    BodySizeLimitMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from cerflow.api.request_guard import ControlCharacterGuard, document_rule
from cerflow.api.routes import include_routers
from cerflow.auth.throttle import make_throttle
from cerflow.cache import Cache, MemoryCache, RedisCache
from cerflow.config import Settings, get_settings
from cerflow.db import make_engine, make_session_factory
from cerflow.errors import CerflowError
from cerflow.jobs.interface import JobSubmitter
from cerflow.jobs.lifecycle import JobLayer
from cerflow.jobs.submitters import make_submitter
from cerflow.observability.logging import configure_logging
from cerflow.products.cached_read import CachedProductRead
from cerflow.ratelimit import (
    Decision,
    Limit,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from cerflow.redis import make_redis
from cerflow.web.install import install as install_web

DESCRIPTION = """
Clinical Evaluation Report data as a service.

Authenticate with `POST /api/v1/auth/login` and send `Authorization: Bearer <access_token>`,
or send an API key as `X-API-Key`. Roles: **viewer** reads, **analyst** also starts jobs
and manages watch lists, **admin** also manages users and API keys.
Limits: per user and per address (429 with `Retry-After`).
"""


def _build_state(
    settings: Settings,
    session_factory: sessionmaker[Session] | None,
    job_submitter: JobSubmitter | None,
) -> AppState:
    engine = None
    if session_factory is None:
        engine = make_engine(settings=settings)
        session_factory = make_session_factory(engine)
    redis = make_redis(settings)
    cache: Cache
    limiter: RateLimiter
    if redis is not None:
        cache = RedisCache(redis, settings.cache_ttl_seconds)
        limiter = RedisRateLimiter(redis, settings.rate_limit_window_seconds)
    else:
        cache = MemoryCache(settings.cache_ttl_seconds, settings.cache_max_items)
        limiter = MemoryRateLimiter(settings.rate_limit_window_seconds)
    return AppState(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        redis=redis,
        cache=cache,
        rate_limiter=limiter,
        job_submitter=job_submitter or make_submitter(settings),
        login_throttle=make_throttle(settings, redis),
    )


class _LazyLimiter:
    """The rate-limit middleware is built before the lifespan creates the clients."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def hit(self, limits: list[Limit]) -> Decision:
        state: AppState = self.app.state.cerflow
        return await state.rate_limiter.hit(limits)


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    job_submitter: JobSubmitter | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings, process="api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = _build_state(settings, session_factory, job_submitter)
        app.state.cerflow = state
        # Table metrics; with no broker, recovery of interrupted jobs and a sweeper thread.
        job_layer = JobLayer(settings, state.session_factory, state.job_submitter)
        job_layer.start()
        # The objects built so far (modules, routes, schemas) live as long as the process:
        # moving them out of the collector's generations keeps full collections - which
        # pause every request in flight - short under load.
        gc.freeze()
        try:
            yield
        finally:
            job_layer.stop()
            if state.redis is not None:
                await state.redis.aclose()
            if state.engine is not None:
                state.engine.dispose()

    app = FastAPI(
        title="cerflow API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by cerflow.web.install from the package's own Swagger UI copy
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(CerflowError, cerflow_error_handler)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, pool_timeout_handler)

    include_routers(app)
    install_web(app)  # pages, static files, offline /docs; after the API's handlers

    # add_middleware wraps: the last added is the outermost.
    # Innermost: cached product reads answered without the router (after every check below).
    app.add_middleware(CachedProductRead, fastapi_app=app)
    app.add_middleware(RateLimitMiddleware, limiter=_LazyLimiter(app), settings=settings)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ControlCharacterGuard)
    document_rule(app)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID", "X-Cache"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
