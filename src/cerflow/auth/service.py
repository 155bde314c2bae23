"""Auth logic with keyword-only arguments; routers and the CLI call these."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cerflow.auth import security
from cerflow.auth.models import ApiKey, RefreshToken, Role, User
from cerflow.auth.schemas import TokenPair
from cerflow.auth.throttle import LoginThrottle
from cerflow.config import Settings
from cerflow.errors import CerflowError, ConflictError, NotFoundError


class AuthError(CerflowError):
    """Credentials refused; the message is safe to show (it never contains the secret)."""

    status_code = 401


class TokenReuse(AuthError):
    """A rotated or revoked refresh token was presented again: its family is now revoked."""


class Conflict(ConflictError):
    """An item with the same unique key (e.g. a user's e-mail) already exists."""


class LastAdmin(Conflict):
    """The change would leave no active admin, and nobody could manage users any more."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user with a JWT, or a machine with an API key."""

    kind: str  # "user" | "api_key"
    user_id: int
    role: Role
    api_key_id: int | None = None
    # Access tokens: the user's token version when issued (checked by `auth.tokenversion`).
    token_version: int | None = None

    @property
    def identity(self) -> str:
        """Stable rate-limit identity."""
        return f"key:{self.api_key_id}" if self.api_key_id is not None else f"user:{self.user_id}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(*, session: Session, email: str, password: str, role: Role) -> User:
    email = normalize_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, password_hash=security.hash_password(password), role=role.value)
    session.add(user)
    session.flush()
    return user


def authenticate(*, session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    ok = security.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise AuthError("incorrect e-mail or password")
    return user


def authenticate_throttled(
    *, session: Session, throttle: LoginThrottle | None, email: str, password: str, ip: str
) -> User:
    """`authenticate` behind the failed-sign-in throttle: `throttle.TooManyAttempts` (429)
    before the password is even checked while the account or address is over its limit."""
    if throttle is None:
        return authenticate(session=session, email=email, password=password)
    throttle.check(email=email, ip=ip)
    try:
        user = authenticate(session=session, email=email, password=password)
    except AuthError:
        throttle.failed(email=email, ip=ip)
        raise
    throttle.succeeded(email=email)
    return user


def issue_tokens(
    *, session: Session, settings: Settings, user: User, family: str | None = None
) -> TokenPair:
    secret = settings.secret_key.get_secret_value()
    access, _ = security.encode_token(
        secret=secret,
        issuer=settings.jwt_issuer,
        sub=str(user.id),
        typ="access",
        ttl_seconds=settings.access_token_ttl_seconds,
        role=user.role,
        version=user.token_version or 0,
    )
    family = family or uuid.uuid4().hex
    refresh, claims = security.encode_token(
        secret=secret,
        issuer=settings.jwt_issuer,
        sub=str(user.id),
        typ="refresh",
        ttl_seconds=settings.refresh_token_ttl_seconds,
        family=family,
    )
    session.add(
        RefreshToken(id=claims.jti, user_id=user.id, family_id=family, expires_at=claims.exp)
    )
    session.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl_seconds
    )


def _revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


def _load_refresh(*, session: Session, settings: Settings, token: str) -> RefreshToken:
    try:
        claims = security.decode_token(
            token,
            secret=settings.secret_key.get_secret_value(),
            issuer=settings.jwt_issuer,
            typ="refresh",
        )
    except security.InvalidToken:
        raise AuthError("invalid or expired refresh token") from None
    row = session.get(RefreshToken, claims.jti, with_for_update=True)
    if row is None or str(row.user_id) != claims.sub:
        raise AuthError("invalid or expired refresh token")
    return row


def rotate_refresh(*, session: Session, settings: Settings, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; a second use revokes the whole family.

    On `TokenReuse` the caller must commit (the revocation is the point) before answering.
    """
    row = _load_refresh(session=session, settings=settings, token=token)
    if row.used_at is not None or row.revoked_at is not None:
        _revoke_family(session, row.family_id)
        session.flush()
        raise TokenReuse("refresh token already used or revoked; please sign in again")
    if _aware(row.expires_at) <= _now():
        raise AuthError("invalid or expired refresh token")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthError("invalid or expired refresh token")
    row.used_at = _now()
    return issue_tokens(session=session, settings=settings, user=user, family=row.family_id)


def logout(*, session: Session, settings: Settings, token: str) -> None:
    row = _load_refresh(session=session, settings=settings, token=token)
    _revoke_family(session, row.family_id)
    session.flush()


def revoke_all_for_user(*, session: Session, user_id: int) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


def create_api_key(*, session: Session, name: str, role: Role, user_id: int) -> tuple[ApiKey, str]:
    key, prefix, digest = security.new_api_key()
    row = ApiKey(prefix=prefix, key_hash=digest, name=name, role=role.value, user_id=user_id)
    session.add(row)
    session.flush()
    return row, key


def authenticate_api_key(*, session: Session, key: str) -> Principal:
    prefix = security.parse_api_key(key)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    if row is None or row.revoked_at is not None or not security.digest_matches(key, row.key_hash):
        raise AuthError("invalid or revoked API key")
    owner = session.get(User, row.user_id)
    if owner is None or not owner.is_active:
        raise AuthError("invalid or revoked API key")
    now = _now()
    if row.last_used_at is None or now - _aware(row.last_used_at) > dt.timedelta(minutes=1):
        row.last_used_at = now  # at most one write per key per minute
    # A key never has more rights than its owner has now (a demoted admin's admin key).
    role = min(Role(row.role), Role(owner.role), key=lambda r: r.rank)
    return Principal(kind="api_key", user_id=row.user_id, role=role, api_key_id=row.id)


def principal_from_access_token(*, settings: Settings, token: str) -> Principal:
    """Access tokens are self-contained (no database read): they live minutes, not days."""
    try:
        claims = security.decode_token(
            token,
            secret=settings.secret_key.get_secret_value(),
            issuer=settings.jwt_issuer,
            typ="access",
        )
        return Principal(
            kind="user",
            user_id=int(claims.sub),
            role=Role(str(claims.role)),
            token_version=claims.ver or 0,  # tokens from before the claim count as 0
        )
    except (security.InvalidToken, ValueError):
        raise AuthError("invalid or expired access token") from None


def revoke_api_key(*, session: Session, key_id: int) -> ApiKey | None:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = _now()
    return row


def update_user(
    *,
    session: Session,
    user: User,
    role: Role | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Apply the changes; `LastAdmin` if they would leave no active admin.

    A real change of role or activation, or a new password, bumps the token version so
    access tokens issued before are refused (`auth.tokenversion`); a no-op does not."""
    stays_admin = (role or Role(user.role)) == Role.ADMIN and (
        user.is_active if is_active is None else is_active
    )
    if user.role == Role.ADMIN.value and user.is_active and not stays_admin:
        _require_another_admin(session=session, user_id=user.id)
    changes_rights = (
        (role is not None and role.value != user.role)
        or (is_active is not None and is_active != user.is_active)
        or password is not None
    )
    if role is not None:
        user.role = role.value
    if is_active is not None:
        user.is_active = is_active
    if password is not None:
        user.password_hash = security.hash_password(password)
    if is_active is False or password is not None or role is not None:
        revoke_all_for_user(session=session, user_id=user.id)
    if changes_rights:
        user.token_version = (user.token_version or 0) + 1
    session.flush()
    return user


# --- reads for the HTTP endpoints (queries live here, not in endpoints) ----------------


def current_user(*, session: Session, principal: Principal) -> User:
    """The caller's user row; a deactivated or deleted user is refused like a bad token."""
    user = session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise AuthError("user no longer exists or is deactivated")
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def list_api_keys(*, session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def _require_another_admin(*, session: Session, user_id: int) -> None:
    # FOR UPDATE locks the active admins' rows (PostgreSQL), so two admins demoting each
    # other at once cannot both see the other one still active.
    others = session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True), User.id != user_id)
        .with_for_update()
    ).all()
    if not others:
        raise LastAdmin(
            f"user {user_id} is the last active admin: make another user an active admin "
            "first, then change this one"
        )
