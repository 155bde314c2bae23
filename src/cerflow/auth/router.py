"""Sign-in, token refresh and logout; users and API keys (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select

from cerflow.api import API_PREFIX
from cerflow.api.deps import AdminUser, CurrentUser, SessionDep, SettingsDep, StateDep
from cerflow.api.errors import (
    AUTH_RESPONSES,
    CONFLICT,
    NOT_FOUND,
    TOO_LARGE,
    ErrorOut,
    ItemId,
)
from cerflow.auth import service
from cerflow.auth.models import ApiKey, User
from cerflow.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserOut,
    UserUpdate,
)
from cerflow.auth.throttle import TooManyAttempts
from cerflow.unit_of_work import commit

_BAD_CREDENTIALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Wrong credentials or invalid token"},
    429: {"model": ErrorOut, "description": "Rate limit exceeded"},
    **TOO_LARGE,
}

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
admin_router = APIRouter(prefix=API_PREFIX, tags=["admin"], responses={**AUTH_RESPONSES})


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


@router.post("/login", response_model=TokenPair, responses=_BAD_CREDENTIALS)
def login(
    body: LoginRequest,
    session: SessionDep,
    settings: SettingsDep,
    state: StateDep,
    request: Request,
) -> TokenPair:
    """Exchange e-mail and password for an access token and a refresh token."""
    try:
        user = service.authenticate_throttled(
            session=session,
            throttle=state.login_throttle,
            email=body.email,
            password=body.password,
            ip=request.client.host if request.client else "unknown",
        )
    except service.AuthError as exc:
        raise _unauthorized(str(exc)) from None
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    return service.issue_tokens(session=session, settings=settings, user=user)


@router.post("/refresh", response_model=TokenPair, responses=_BAD_CREDENTIALS)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Rotate: the old refresh token stops working; using it again revokes the whole chain."""
    try:
        return service.rotate_refresh(session=session, settings=settings, token=body.refresh_token)
    except service.TokenReuse as exc:
        commit(session)  # keep the family revocation although the request fails
        raise _unauthorized(str(exc)) from None
    except service.AuthError as exc:
        raise _unauthorized(str(exc)) from None


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_BAD_CREDENTIALS)
def logout(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> Response:
    """Revoke the refresh token and every token rotated from the same sign-in."""
    try:
        service.logout(session=session, settings=settings, token=body.refresh_token)
    except service.AuthError as exc:
        raise _unauthorized(str(exc)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses={**AUTH_RESPONSES})
def me(principal: CurrentUser, session: SessionDep) -> User:
    """The signed-in user (for an API key: the admin who created it)."""
    user = session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise _unauthorized("user no longer exists or is deactivated")
    return user


@admin_router.get("/users", response_model=list[UserOut])
def list_users(_admin: AdminUser, session: SessionDep) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


@admin_router.post(
    "/users", response_model=UserOut, status_code=201, responses={**CONFLICT, **TOO_LARGE}
)
def create_user(body: UserCreate, _admin: AdminUser, session: SessionDep) -> User:
    try:
        return service.create_user(
            session=session, email=body.email, password=body.password, role=body.role
        )
    except service.Conflict as exc:
        raise HTTPException(409, detail=str(exc)) from None


def _user_or_404(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, detail=f"no user with id {user_id}")
    return user


@admin_router.get("/users/{user_id}", response_model=UserOut, responses={**NOT_FOUND})
def get_user(user_id: ItemId, _admin: AdminUser, session: SessionDep) -> User:
    return _user_or_404(session, user_id)


@admin_router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={**NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def update_user(user_id: ItemId, body: UserUpdate, _admin: AdminUser, session: SessionDep) -> User:
    """Change role, activation or password; any change signs the user out everywhere."""
    user = _user_or_404(session, user_id)
    try:
        return service.update_user(
            session=session,
            user=user,
            role=body.role,
            is_active=body.is_active,
            password=body.password,
        )
    except service.Conflict as exc:
        raise HTTPException(409, detail=str(exc)) from None


@admin_router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(_admin: AdminUser, session: SessionDep) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


@admin_router.post(
    "/api-keys", response_model=ApiKeyCreated, status_code=201, responses={**TOO_LARGE}
)
def create_api_key(body: ApiKeyCreate, admin: AdminUser, session: SessionDep) -> ApiKeyCreated:
    """The key is in this response only; the server keeps a digest."""
    row, key = service.create_api_key(
        session=session, name=body.name, role=body.role, user_id=admin.user_id
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@admin_router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, responses={**NOT_FOUND})
def revoke_api_key(key_id: ItemId, _admin: AdminUser, session: SessionDep) -> ApiKey:
    row = service.revoke_api_key(session=session, key_id=key_id)
    if row is None:
        raise HTTPException(404, detail=f"no API key with id {key_id}")
    return row
