"""Property-based conformance: generated requests for every operation of the OpenAPI schema.

No response may be a 5xx, and every response must match the documented status codes,
content types and schemas. Examples are bounded so `make test` stays quick.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from tests.api.conftest import Actors, make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MAX_EXAMPLES = 15
# Constraints across fields that JSON Schema cannot state: a schema-valid body may still be
# refused with a 422 (e.g. a report window whose `since` is after its `until`). For these
# operations only, "schema-valid data must be accepted" is not checked; every other check
# (no 5xx, response conforms to the schema, status documented...) still is.
CROSS_FIELD_RULES = {"POST /api/v1/reports"}


@pytest.fixture
def fuzz_app(
    pg_url: str, redis_prefix: str, session_factory: sessionmaker[Session]
) -> Iterator[FastAPI]:
    # Only the limits are raised: thousands of generated requests come from one address.
    cfg = make_settings(pg_url, redis_prefix, rate_limit_per_user=10**6, rate_limit_per_ip=10**6)
    app = create_app(cfg, session_factory=session_factory, job_submitter=RecordingSubmitter())
    with TestClient(app):  # run the lifespan once; schemathesis then calls the live app
        yield app


def test_api_conforms_to_its_schema(fuzz_app: FastAPI, actors: Actors) -> None:
    """One bounded Hypothesis run per operation; failures are collected, then reported."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = actors[Role.ADMIN].headers
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        excluded = [positive_data_acceptance] if operation.label in CROSS_FIELD_RULES else []

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)  # noqa: B023 - run() is called within this iteration

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)
