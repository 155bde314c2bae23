"""Dependency aliases for routers: `SessionDep`, `CurrentUser`, `ViewerUser`, ...

Usage in a router of any domain:

    @router.post("/things", status_code=202)
    def start(session: SessionDep, user: AnalystUser, jobs: JobSubmitterDep) -> ...:

`SessionDep` commits when the endpoint returns (before the response is sent, so a failed
commit is a 500 and not a lie) and rolls back if it raises; callbacks registered with
`cerflow.unit_of_work.on_commit(session, ...)` run after the commit and are dropped on
rollback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow import unit_of_work
from cerflow.auth import keycache, tokenversion
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.auth.security import API_KEY_PREFIX
from cerflow.auth.service import AuthError, Principal
from cerflow.auth.throttle import LoginThrottle
from cerflow.cache import Cache
from cerflow.config import Settings
from cerflow.errors import ForbiddenError
from cerflow.jobs.interface import JobSubmitter
from cerflow.ratelimit import RateLimiter
from cerflow.redis import RedisClients


@dataclass
class AppState:
    """Everything the lifespan creates and disposes; lives on `app.state.cerflow`."""

    settings: Settings
    engine: Engine | None
    session_factory: sessionmaker[Session]
    redis: RedisClients | None
    cache: Cache
    rate_limiter: RateLimiter
    job_submitter: JobSubmitter
    login_throttle: LoginThrottle | None = None


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.cerflow
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


def get_session(state: StateDep) -> Iterator[Session]:
    session = state.session_factory()
    try:
        yield session
        unit_of_work.commit(session)
    except BaseException:
        unit_of_work.rollback(session)
        raise
    finally:
        session.close()


async def get_cache(state: StateDep) -> Cache:
    return state.cache


async def get_job_submitter(state: StateDep) -> JobSubmitter:
    return state.job_submitter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
CacheDep = Annotated[Cache, Depends(get_cache)]
JobSubmitterDep = Annotated[JobSubmitter, Depends(get_job_submitter)]

_bearer = HTTPBearer(auto_error=False, description="JWT access token from /api/v1/auth/login")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key created by an admin"
)


def _unauthorized(detail: str) -> AuthError:
    """401 with `WWW-Authenticate: Bearer`, written by `api.errors.cerflow_error_handler`."""
    return AuthError(detail)


def _api_key_principal(state: AppState, key: str) -> Principal:
    with unit_of_work.unit_of_work(state.session_factory) as session:
        return auth_service.authenticate_api_key(session=session, key=key)


async def bearer_principal(state: AppState, token: str) -> Principal:
    """The user of a JWT access token; `AuthError` if invalid, expired or no longer current.

    Self-contained JWT: verified on the event loop (verified tokens are remembered until
    they expire, `auth.security.decode_token`), no thread hop; the token version against
    the user's (`auth.tokenversion`: a role change, deactivation or password change takes
    effect within its TTL). Also the check of the cached-read fast path
    (`products.cached_read`), so both paths authenticate alike.
    """
    principal = auth_service.principal_from_access_token(settings=state.settings, token=token)
    await tokenversion.ensure_current(state.session_factory, principal)
    return principal


async def _authenticate(
    request: Request, bearer: HTTPAuthorizationCredentials | None, api_key: str | None
) -> Principal:
    """The caller of this request, resolved once per request (kept on `request.state`)."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    state: AppState = request.app.state.cerflow
    token = bearer.credentials if bearer else None
    try:
        if api_key or (token and token.startswith(API_KEY_PREFIX)):
            key = api_key or token or ""
            # Verified in the last seconds by this process (see `keycache` for how soon a
            # revocation is honoured), else a database look-up and a last-used stamp, off
            # the event loop.
            cached = keycache.get(key)
            if cached is None:
                seen = keycache.generation()
                principal = await run_in_threadpool(_api_key_principal, state, key)
                keycache.put(key, principal, seen)
            else:
                principal = cached
        elif token:
            principal = await bearer_principal(state, token)
        else:
            raise _unauthorized(
                "not authenticated: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'"
            )
    except AuthError as exc:
        raise _unauthorized(str(exc)) from None
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(user_id=principal.user_id)
    return principal


# The app state is read from the request here, not through `StateDep`: every dependency
# FastAPI solves costs tens of microseconds per request, and these run on every request.
async def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    return await _authenticate(request, bearer, api_key)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Authenticate and check the role in one dependency (one solve, not two)."""

    async def _check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        principal = await _authenticate(request, bearer, api_key)
        if not principal.role.allows(role):
            raise ForbiddenError(
                f"this endpoint needs the {role.value} role; you have {principal.role.value}"
            )
        return principal

    _check.__name__ = f"require_{role.value}"
    return _check


ViewerUser = Annotated[Principal, Depends(require_role(Role.VIEWER))]
AnalystUser = Annotated[Principal, Depends(require_role(Role.ANALYST))]
ApproverUser = Annotated[Principal, Depends(require_role(Role.APPROVER))]
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMIN))]
