"""Webhook API tests use the same app fixtures as the API tests."""

from tests.api.conftest import (  # noqa: F401
    actors,
    app,
    client,
    db_connection,
    redis_prefix,
    session_factory,
    settings,
    submitter,
)
