"""Runtime metrics (issue 15 item 3): in flight, DB pool, source fetches, rate-limit waits,
report build time, consumer heartbeat, sweeper runs, multiprocess files. Each value is
checked against what the test itself did (the oracle is the hand count)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from cerflow.observability import runtime_metrics as rm
from cerflow.observability.metrics import prepare_multiprocess_dir, prune_dead_processes


def value(name: str, **labels: str) -> float:
    return float(REGISTRY.get_sample_value(name, labels) or 0.0)


def test_in_flight_counts_the_request_being_answered() -> None:
    from cerflow.api.middleware import RequestContextMiddleware

    seen: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(value("cerflow_http_requests_in_flight", kind="http"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_: Any) -> None:
        return None

    before = value("cerflow_http_requests_in_flight", kind="http")
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    asyncio.run(RequestContextMiddleware(app)(scope, receive, send))
    assert seen == [before + 1]
    assert value("cerflow_http_requests_in_flight", kind="http") == before
    assert value("cerflow_process_resident_memory_bytes", role="api") > 1_000_000


def test_db_pool_gauges_follow_checkouts(settings: Any) -> None:
    from cerflow.db import make_engine

    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("the pool gauges are for PostgreSQL's QueuePool")
    engine = make_engine(settings=settings)
    try:
        capacity = settings.db_pool_size + settings.db_max_overflow
        base_cap = value("cerflow_db_pool_capacity", dialect="postgresql")
        assert base_cap >= capacity
        base = value("cerflow_db_pool_checked_out", dialect="postgresql")
        first, second = engine.connect(), engine.connect()
        assert value("cerflow_db_pool_checked_out", dialect="postgresql") == base + 2
        first.close()
        assert value("cerflow_db_pool_checked_out", dialect="postgresql") == base + 1
        second.close()
        assert value("cerflow_db_pool_checked_out", dialect="postgresql") == base
    finally:
        engine.dispose()


def test_track_fetch_counts_outcomes_and_times() -> None:
    labels = {"source": "test-src"}
    with rm.track_fetch("test-src"):
        pass
    with rm.track_fetch("test-src") as fetch:
        fetch["outcome"] = "not_found"
    with pytest.raises(RuntimeError), rm.track_fetch("test-src"):
        raise RuntimeError("boom")
    for outcome in ("ok", "not_found", "error"):
        assert value("cerflow_source_fetches_total", **labels, outcome=outcome) == 1
        assert value("cerflow_source_fetch_duration_seconds_count", **labels, outcome=outcome) == 1


def test_openfda_limiter_counts_its_waits() -> None:
    from cerflow.sources.openfda import TokenBucket

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    before = value("cerflow_source_rate_limit_wait_seconds_total", source="openfda")
    bucket = TokenBucket(60, clock=lambda: now[0], sleep=sleep)  # one a second
    for _ in range(3):
        bucket.acquire()
    assert slept == pytest.approx([1.0, 1.0])
    after = value("cerflow_source_rate_limit_wait_seconds_total", source="openfda")
    assert after - before == pytest.approx(2.0)


def test_eudamed_limiter_counts_its_waits() -> None:
    from cerflow.sources.eudamed import _RateLimiter

    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    before = value("cerflow_source_rate_limit_wait_seconds_total", source="eudamed")
    limiter = _RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    after = value("cerflow_source_rate_limit_wait_seconds_total", source="eudamed")
    assert after - before == pytest.approx(0.5)  # two waits of 1/4 s


def test_consumer_heartbeat_age_is_served() -> None:
    from cerflow.jobs import liveness

    liveness.stamp()
    (family,) = list(liveness.ConsumerHeartbeatCollector().collect())
    assert family.name == "cerflow_worker_consumer_heartbeat_age_seconds"
    (sample,) = family.samples
    assert 0.0 <= sample.value < 1.0


def test_sweeper_runs_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from cerflow.jobs import sweeper

    monkeypatch.setattr(sweeper, "sweep", lambda **_: 0)
    monkeypatch.setattr(sweeper, "runtime", type("R", (), {"settings": 1, "factory": 2}))
    before = value("cerflow_sweeper_runs_total", task="sweep_jobs")
    sweeper.sweep_jobs(type("T", (), {"app": None})())  # type: ignore[arg-type]
    assert value("cerflow_sweeper_runs_total", task="sweep_jobs") == before + 1


def _write_samples(directory: Path, code: str) -> int:
    """Run `code` in a child writing multiprocess samples to `directory`; its pid."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport os; print(os.getpid())"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return int(proc.stdout.strip().splitlines()[-1])


def test_dead_processes_drop_out_of_live_gauges_and_counters_stay(tmp_path: Path) -> None:
    code = (
        "from prometheus_client import Gauge, Counter\n"
        "Gauge('t_in_flight', 'x', ['k'], multiprocess_mode='livesum').labels(k='a').set(3)\n"
        "Counter('t_done', 'x', ['k']).labels(k='a').inc(5)\n"
    )
    pid = _write_samples(tmp_path, code)  # the child has exited: pid is dead
    assert any(p.name.endswith(f"_{pid}.db") and "livesum" in p.name for p in tmp_path.iterdir())
    assert prune_dead_processes(str(tmp_path)) == [pid]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("t_in_flight", {"k": "a"}) is None
    assert registry.get_sample_value("t_done_total", {"k": "a"}) == 5
    assert prepare_multiprocess_dir(str(tmp_path)) == 1  # the counter file
    assert not list(tmp_path.glob("*.db"))


def test_report_build_stages_are_timed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cerflow.report import pipeline

    monkeypatch.setattr(pipeline, "compute_facts", lambda *a, **k: object())
    monkeypatch.setattr(pipeline, "write_narrative", lambda facts: object())
    # Main's pipeline applies the CER inputs to the facts (absent before that merge).
    monkeypatch.setattr(pipeline, "apply_cer_inputs", lambda f, *a, **k: f, raising=False)
    monkeypatch.setattr(pipeline, "apply_previous", lambda f, *a, **k: f, raising=False)
    monkeypatch.setattr(pipeline, "narrative_texts", lambda n: {}, raising=False)
    monkeypatch.setattr(pipeline, "_render", lambda *a: {})

    class S:
        llm_base_url = None

    stages = ("facts", "narrative", "documents")
    name = "cerflow_report_build_duration_seconds_count"
    before = {st: value(name, formats="html+json", stage=st) for st in stages}
    pipeline.generate_report(
        None,  # type: ignore[arg-type]
        out_dir=tmp_path,
        drug="x",
        settings=S(),  # type: ignore[arg-type]
        formats=("json", "html"),
    )
    assert {st: value(name, formats="html+json", stage=st) - before[st] for st in stages} == (
        dict.fromkeys(stages, 1.0)
    )


_SERVE = """
import os, sys, uvicorn
from cerflow.cli import serve
uvicorn.run = lambda *a, **k: print(os.environ.get("PROMETHEUS_MULTIPROC_DIR"), flush=True)
serve.serve(host="127.0.0.1", port=8000, workers=int(sys.argv[1]), migrate_first=False)
"""


def _serve(workers: int, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(workers)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_serve_removes_its_own_metrics_dir_at_exit() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PROMETHEUS_MULTIPROC_DIR"] = ""
    made = _serve(2, env)
    assert "cerflow-metrics-" in made
    assert not Path(made).exists()  # removed when serve exited


def test_serve_wipes_a_given_metrics_dir_at_start(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old run")
    (tmp_path / "keep.txt").write_text("not a sample file")
    assert _serve(2, {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]  # given dir stays
