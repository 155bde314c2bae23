"""`build_facts` runs the time-series models in a short-lived thread beside the store reads.

The thread must be gone when `build_facts` returns (the renderer forks its PDF child only
from a single-threaded process) and its errors must reach the caller.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from cerflow.report import compute
from cerflow.report import facts_builder as fb
from tests.report import store_factory as sf


def test_no_thread_outlives_the_call(sqlite_engine: Engine) -> None:
    sf.fill(sqlite_engine)
    before = threading.active_count()
    facts = fb.build_facts(sqlite_engine, drug="atorvastatin")
    assert threading.active_count() == before
    assert facts.trend is not None and facts.trend.counts == [2, 1, 1, 0]
    assert list(facts.notes)[:3] == ["trend", "forecast", "anomalies"]


def test_an_error_in_the_thread_reaches_the_caller(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf.fill(sqlite_engine)

    def broken(*_: Any, **__: Any) -> None:
        raise ArithmeticError("forecast exploded")

    monkeypatch.setattr(compute, "_forecast", broken)
    with pytest.raises(ArithmeticError, match="forecast exploded"):
        fb.build_facts(sqlite_engine, drug="atorvastatin")
