"""Property-based conformance: generated requests for every operation of the OpenAPI schema.

Every built-in schemathesis check runs (the `--checks all` of the command line): no 5xx,
documented status codes, content types, headers and schemas, `Allow` on 405, schema-valid
data accepted and schema-invalid data refused, missing headers and unsupported methods
answered properly. It runs on both stores, the embedded default (SQLite, no Redis) and
PostgreSQL with Redis, because the two serialize values differently (a SQLite datetime
comes back without a time zone). Examples are bounded so `make test` stays quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.checks import CHECKS, load_all_checks, positive_data_acceptance
from schemathesis.generation import GenerationMode
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.app import create_app
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.db import make_session_factory
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.products.version import DataVersionMemo
from tests.api.conftest import Actors, create_actor, make_settings

MAX_EXAMPLES = 10
# Constraints across fields that JSON Schema cannot state: a schema-valid body may still be
# refused with a 422 (e.g. a report window whose `since` is after its `until`). For these
# operations only, "schema-valid data must be accepted" is not checked; every other check
# (no 5xx, response conforms to the schema, status documented...) still is.
CROSS_FIELD_RULES = {
    "POST /api/v1/reports",
    # CER inputs: claimed equivalence needs its three characteristics, a high-risk device
    # an interval of at most 12 months, and `product` must be the URL's product.
    "PUT /api/v1/products/{ref}/cer-inputs",
    # Literature protocol: dates in order, criteria codes unique, a query or names per database.
    "PUT /api/v1/products/{ref}/literature/protocol",
    # Appraisal findings: events (n) and patients (N) both or neither, n <= N.
    "POST /api/v1/products/{ref}/literature/records/{item_id}/appraisals",
}


def _all_checks() -> list[object]:
    load_all_checks()
    return list(CHECKS.get_all())


def _fuzz(app: FastAPI, headers: dict[str, str]) -> None:
    """One bounded Hypothesis run per operation and mode; failures are collected, then reported."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = _all_checks()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        excluded = [positive_data_acceptance] if operation.label in CROSS_FIELD_RULES else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    headers=headers,
                    checks=checks,
                    excluded_checks=excluded,  # noqa: B023 - run() is called within this iteration
                )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: no parameters and no body
                continue
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def pg_fuzz_app(
    pg_url: str, redis_prefix: str, session_factory: sessionmaker[Session]
) -> Iterator[FastAPI]:
    # Only the limits are raised: thousands of generated requests come from one address.
    cfg = make_settings(pg_url, redis_prefix, rate_limit_per_user=10**6, rate_limit_per_ip=10**6)
    app = create_app(cfg, session_factory=session_factory, job_submitter=RecordingSubmitter())
    # Every session of this app shares ONE connection (savepoints roll the test back). The
    # product data-version memo refreshes in a background thread once its 1 s TTL runs
    # out, i.e. concurrently with a request's own thread on that one connection, where the
    # two interleave their savepoints ("savepoint does not exist"). In production each
    # session has its own pooled connection; here the memo is kept fresh for the run.
    app.state.product_data_version = DataVersionMemo(session_factory, ttl_seconds=10**6)
    with TestClient(app):  # run the lifespan once; schemathesis then calls the live app
        yield app


@pytest.mark.postgres
@pytest.mark.redis
def test_api_conforms_to_its_schema_postgresql(pg_fuzz_app: FastAPI, actors: Actors) -> None:
    _fuzz(pg_fuzz_app, actors[Role.ADMIN].headers)


def test_api_conforms_to_its_schema_sqlite(sqlite_engine: Engine, tmp_path: Path) -> None:
    cfg = Settings(
        environment=Environment.TESTING,
        data_dir=tmp_path,
        secret_key=SecretStr("schemathesis-sqlite-secret-" + "s" * 40),
        rate_limit_per_user=10**6,
        rate_limit_per_ip=10**6,
    )
    admin = create_actor(make_session_factory(sqlite_engine), cfg, Role.ADMIN)
    app = create_app(cfg, job_submitter=RecordingSubmitter())
    with TestClient(app):
        _fuzz(app, admin.headers)
