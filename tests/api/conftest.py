"""The production app on the real PostgreSQL and Redis, isolated per test.

- PostgreSQL: the session database from `pg_url` (migrated once with Alembic); each test
  runs inside an outer transaction on one connection and the app's sessions commit into
  savepoints (`join_transaction_mode="create_savepoint"`), so the test ends with a
  rollback and leaves nothing behind.
- Redis: the real server, with a per-test key prefix whose keys are deleted afterwards.
- The app is `create_app()` with every middleware; only its settings and the session
  factory differ from production.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.unit_of_work import unit_of_work
from tests.conftest import REDIS_TEST_URL

TEST_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"


@pytest.fixture
def db_connection(pg_engine: Engine) -> Iterator[Connection]:
    conn = pg_engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def session_factory(db_connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"cerflow-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_TEST_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def make_settings(pg_url: str, redis_prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": Environment.TESTING,
        "database_url": pg_url,
        "redis_url": REDIS_TEST_URL,
        "redis_key_prefix": redis_prefix,
        "secret_key": SecretStr(TEST_SECRET),
        "cors_allow_origins": ["https://app.example.org"],
        "log_json": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(pg_url: str, redis_prefix: str) -> Settings:
    return make_settings(pg_url, redis_prefix)


@pytest.fixture
def submitter() -> RecordingSubmitter:
    return RecordingSubmitter()


@pytest.fixture
def app(
    settings: Settings, session_factory: sessionmaker[Session], submitter: RecordingSubmitter
) -> FastAPI:
    return create_app(settings, session_factory=session_factory, job_submitter=submitter)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


_counter = itertools.count()


@dataclass
class Actor:
    id: int
    email: str
    role: Role
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Actors:
    by_role: dict[Role, Actor] = field(default_factory=dict)

    def __getitem__(self, role: Role) -> Actor:
        return self.by_role[role]


def create_actor(
    factory: sessionmaker[Session], settings: Settings, role: Role, email: str | None = None
) -> Actor:
    email = email or f"{role.value}{next(_counter)}-{uuid.uuid4().hex[:6]}@example.org"
    with unit_of_work(factory) as session:
        user = auth_service.create_user(session=session, email=email, password=PASSWORD, role=role)
        pair = auth_service.issue_tokens(session=session, settings=settings, user=user)
        return Actor(user.id, email, role, pair.access_token, pair.refresh_token)


@pytest.fixture
def actors(session_factory: sessionmaker[Session], settings: Settings) -> Actors:
    return Actors({r: create_actor(session_factory, settings, r) for r in Role})


def forge_token(settings: Settings, *, sub: int, role: str, **changes: Any) -> str:
    """An access token with chosen claims (for expired / tampered / alg:none cases)."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "sub": str(sub),
        "typ": "access",
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
    }
    claims.update(changes)
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")


def alg_none_token(settings: Settings, *, sub: int, role: str) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "sub": str(sub),
        "typ": "access",
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def tamper(token: str) -> str:
    """Raise the role in the payload and keep the original signature."""
    import base64
    import json

    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"] = "admin"
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


Seeder = Callable[..., None]
