"""Facts built once per test from the small hand-counted store (SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cerflow.narrative.facts import Facts
from cerflow.report.facts_builder import build_facts
from tests.report import store_factory as sf


@pytest.fixture
def small_store(sqlite_engine: Engine) -> Engine:
    sf.fill(sqlite_engine)
    return sqlite_engine


@pytest.fixture
def drug_facts(small_store: Engine) -> Facts:
    return build_facts(small_store, drug="atorvastatin")


@pytest.fixture
def device_facts(small_store: Engine) -> Facts:
    return build_facts(small_store, device_codes=["LZG"])
