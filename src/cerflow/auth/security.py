"""Password hashing (argon2id), JWTs (HS256 only) and API key material.

Tokens are verified with an explicit algorithm list, so `alg: none` and algorithm
confusion are refused by construction; `exp`, `iat`, `jti`, `sub` and `typ` are required
and the type is checked, so a refresh token is never accepted as an access token.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cerflow.errors import CerflowError

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]
API_KEY_PREFIX = "cfk_"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown e-mail as slow as a wrong
    password. Made on first use: an Argon2 hash costs about half a second of CPU, which
    every process start (CLI, API worker) paid at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


class InvalidToken(CerflowError):
    """The token is expired, malformed, tampered with, unsigned or of the wrong type."""

    status_code = 401


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    typ: TokenType
    jti: str
    exp: dt.datetime
    role: str | None = None
    fam: str | None = None
    ver: int | None = None  # the user's token version when issued (access tokens)


def encode_token(
    *,
    secret: str,
    issuer: str,
    sub: str,
    typ: TokenType,
    ttl_seconds: int,
    role: str | None = None,
    family: str | None = None,
    jti: str | None = None,
    now: dt.datetime | None = None,
    version: int | None = None,
) -> tuple[str, TokenClaims]:
    now = now or dt.datetime.now(dt.UTC)
    exp = now + dt.timedelta(seconds=ttl_seconds)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "typ": typ,
        "jti": jti or uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    if role is not None:
        claims["role"] = role
    if family is not None:
        claims["fam"] = family
    if version is not None:
        claims["ver"] = version
    token = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token, TokenClaims(sub, typ, claims["jti"], exp, role, family, version)


# Verified access tokens, so the rate limiter and authentication of one request (and the
# next requests of the same client) verify the signature once. A hit re-checks expiry; the
# entry is only reached by the identical token string under the same secret and issuer.
_VERIFIED_MAX = 8192
_verified: dict[tuple[str, str, str], TokenClaims] = {}


def decode_token(token: str, *, secret: str, issuer: str, typ: TokenType) -> TokenClaims:
    key = (token, secret, issuer)
    if typ == "access":
        cached = _verified.get(key)
        if cached is not None:
            if cached.exp > dt.datetime.now(dt.UTC):
                return cached
            _verified.pop(key, None)
            raise InvalidToken("ExpiredSignatureError")
    claims = _verify(token, secret=secret, issuer=issuer, typ=typ)
    if typ == "access":
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()  # crude but bounded; a miss only costs one verification
        _verified[key] = claims
    return claims


def _verify(token: str, *, secret: str, issuer: str, typ: TokenType) -> TokenClaims:
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["exp", "iat", "jti", "sub", "typ", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if data.get("typ") != typ:
        raise InvalidToken("wrong token type")
    return TokenClaims(
        sub=str(data["sub"]),
        typ=typ,
        jti=str(data["jti"]),
        exp=dt.datetime.fromtimestamp(int(data["exp"]), dt.UTC),
        role=data.get("role"),
        fam=data.get("fam"),
        ver=int(data["ver"]) if isinstance(data.get("ver"), int) else None,
    )


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, lookup prefix, digest to store)."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, api_key_digest(key)


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not rest:
        return None
    return prefix


def digest_matches(key: str, stored: str) -> bool:
    return hmac.compare_digest(api_key_digest(key), stored)
