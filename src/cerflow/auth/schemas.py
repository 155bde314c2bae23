"""Request and response bodies for auth, users and API keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cerflow.auth.models import Role
from cerflow.timestamps import UtcDatetime

# A plain shape check: deliverability is the mail server's business, and a strict validator
# rejects addresses (e.g. internal domains) that organisations really use.
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        pattern=r"^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$",
        examples=["analyst@example.org"],
    ),
]

_PASSWORD = Field(
    min_length=12,
    max_length=256,
    description="At least 12 characters.",
    examples=["correct horse battery staple"],
)


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "analyst@example.org", "password": "correct horse battery"}]
        }
    )
    email: Email
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "eyJhbGciOi..."}]})
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds.")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    role: Role
    is_active: bool
    created_at: UtcDatetime


class UserCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "viewer@example.org", "password": "a long passphrase", "role": "viewer"}
            ]
        }
    )
    email: Email
    password: str = _PASSWORD
    role: Role = Role.VIEWER


class UserUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "analyst"}]})
    role: Role | None = None
    # Strict: `0`, `1` or "false" are refused instead of silently coerced (a typo must not
    # deactivate an account).
    is_active: StrictBool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=256)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "nightly export script", "role": "viewer"}]}
    )
    # No control characters: names end up in logs, CSV exports and admin screens, where CR/LF
    # would forge lines.
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
    role: Role = Role.VIEWER


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    prefix: str
    name: str
    role: Role
    user_id: int
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown only in this response; store it now.")
