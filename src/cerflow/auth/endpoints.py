"""Sign-in, token refresh and logout; users and API keys (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from cerflow.api import API_PREFIX
from cerflow.api.deps import AdminUser, CurrentUser, SessionDep, SettingsDep, StateDep
from cerflow.api.errors import (
    AUTH_RESPONSES,
    BODY_ERRORS,
    CONFLICT,
    NOT_FOUND,
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
from cerflow.errors import NotFoundError
from cerflow.unit_of_work import commit

_BAD_CREDENTIALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Wrong credentials or invalid token"},
    429: {"model": ErrorOut, "description": "Rate limit exceeded"},
    **BODY_ERRORS,
}

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
admin_router = APIRouter(prefix=API_PREFIX, tags=["admin"], responses={**AUTH_RESPONSES})


@router.post("/login", response_model=TokenPair, responses=_BAD_CREDENTIALS)
def login(
    body: LoginRequest,
    session: SessionDep,
    settings: SettingsDep,
    state: StateDep,
    request: Request,
) -> TokenPair:
    """Exchange e-mail and password for an access token and a refresh token."""
    user = service.authenticate_throttled(
        session=session,
        throttle=state.login_throttle,
        email=body.email,
        password=body.password,
        ip=request.client.host if request.client else "unknown",
    )
    return service.issue_tokens(session=session, settings=settings, user=user)


@router.post("/refresh", response_model=TokenPair, responses=_BAD_CREDENTIALS)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Rotate: the old refresh token stops working; using it again revokes the whole chain."""
    try:
        return service.rotate_refresh(session=session, settings=settings, token=body.refresh_token)
    except service.TokenReuse:
        commit(session)  # keep the family revocation although the request fails (401)
        raise


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_BAD_CREDENTIALS)
def logout(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> Response:
    """Revoke the refresh token and every token rotated from the same sign-in."""
    service.logout(session=session, settings=settings, token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses={**AUTH_RESPONSES})
def me(principal: CurrentUser, session: SessionDep) -> User:
    """The signed-in user (for an API key: the admin who created it)."""
    return service.current_user(session=session, principal=principal)


@admin_router.get("/users", response_model=list[UserOut])
def list_users(_admin: AdminUser, session: SessionDep) -> list[User]:
    return service.list_users(session=session)


@admin_router.post(
    "/users", response_model=UserOut, status_code=201, responses={**CONFLICT, **BODY_ERRORS}
)
def create_user(body: UserCreate, _admin: AdminUser, session: SessionDep) -> User:
    return service.create_user(
        session=session, email=body.email, password=body.password, role=body.role
    )


@admin_router.get("/users/{user_id}", response_model=UserOut, responses={**NOT_FOUND})
def get_user(user_id: ItemId, _admin: AdminUser, session: SessionDep) -> User:
    return service.get_user(session=session, user_id=user_id)


@admin_router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={**NOT_FOUND, **CONFLICT, **BODY_ERRORS},
)
def update_user(user_id: ItemId, body: UserUpdate, _admin: AdminUser, session: SessionDep) -> User:
    """Change role, activation or password; any change signs the user out everywhere."""
    user = service.get_user(session=session, user_id=user_id)
    return service.update_user(
        session=session,
        user=user,
        role=body.role,
        is_active=body.is_active,
        password=body.password,
    )


@admin_router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(_admin: AdminUser, session: SessionDep) -> list[ApiKey]:
    return service.list_api_keys(session=session)


@admin_router.post(
    "/api-keys", response_model=ApiKeyCreated, status_code=201, responses={**BODY_ERRORS}
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
        raise NotFoundError(f"no API key with id {key_id}")
    return row
