"""The API fixtures of tests/api (real app, PostgreSQL, Redis), reused here."""

from tests.api.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    actors,
    db_connection,
    redis_prefix,
    session_factory,
    settings,
    submitter,
)
