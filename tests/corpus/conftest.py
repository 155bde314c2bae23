"""The API fixtures (production app on real PostgreSQL and Redis) for the corpus tests."""

from tests.api.conftest import (  # noqa: F401 - fixtures
    actors,
    app,
    client,
    db_connection,
    redis_prefix,
    session_factory,
    settings,
    submitter,
)
