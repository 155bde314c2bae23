"""The API process imports what serving requests needs and no more.

Readiness time is measured in benchmarks/startup.py; this guards the architecture behind
it: Celery (and kombu, yaml), Alembic, Polars and the numeric stack load with the first job, the
first readiness probe or the first trend, never with the process; redis-py only when a
Redis URL is set (the lifespan makes the clients), httpx and tenacity with the first
outgoing request (a job, a webhook delivery), Jinja2 with the first page, and the report's
`Facts` models with the first report built in the process."""

from __future__ import annotations

import json
import subprocess
import sys

NOT_AT_START = (
    "celery", "kombu", "alembic", "numpy", "scipy", "statsmodels", "matplotlib",
    "weasyprint", "docx", "typer", "polars", "redis", "httpx", "tenacity", "jinja2",
)  # fmt: skip
# Our own modules that only building a report, a narrative or a fetch needs.
OWN_NOT_AT_START = (
    "cerflow.narrative.facts", "cerflow.narrative.inputs", "cerflow.narrative.llm",
    "cerflow.sources.openfda", "cerflow.report",
)  # fmt: skip


def _loaded_after(code: str) -> dict[str, list[str]]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "tops = {m.split('.')[0] for m in sys.modules}\n"
        f"own = sorted(m for m in {OWN_NOT_AT_START!r} if m in sys.modules)\n"
        f"print(json.dumps({{'libraries': sorted(tops & set({NOT_AT_START!r})), 'own': own}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_app_loads_no_job_migration_fetch_or_numeric_library() -> None:
    assert _loaded_after("import cerflow.app") == {"libraries": [], "own": []}


def test_building_the_app_without_redis_loads_none_of_them_either() -> None:
    """`create_app()` (routes, pages, middleware) as `cerflow serve` builds it."""
    code = (
        "import os, tempfile\n"
        "d = tempfile.mkdtemp()\n"
        "os.environ.update(CERFLOW_DATA_DIR=d, CERFLOW_DATABASE_URL='sqlite:///' + d + '/c.db',"
        " CERFLOW_REDIS_URL='')\n"
        "import cerflow.asgi\n"
        "cerflow.asgi.create_app()"
    )
    assert _loaded_after(code) == {"libraries": [], "own": []}


GC_PROBE = """
import gc, json, os, sys, tempfile
d = tempfile.mkdtemp()
os.environ.update(CERFLOW_DATA_DIR=d, CERFLOW_DATABASE_URL="sqlite:///" + d + "/c.db",
                  CERFLOW_REDIS_URL="")
older = []  # collections of generation 1 or 2 (a pass over the long-lived objects)
gc.callbacks.append(lambda phase, info: older.append(1) if phase == "start"
                    and info["generation"] >= 1 else None)
before = gc.get_threshold()
if sys.argv[1] == "asgi":
    import cerflow.asgi
    cerflow.asgi.create_app()
else:
    import cerflow.app
    cerflow.app.create_app()
print(json.dumps({"older_collections": len(older), "thresholds_kept": gc.get_threshold() == before,
                  "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def _gc_during_build(entry: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, entry], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_the_served_app_is_built_collecting_only_the_youngest_generation_then_frozen() -> None:
    plain = _gc_during_build("plain")  # the factory tests use: the collector as it comes
    served = _gc_during_build("asgi")  # the factory `cerflow serve` gives uvicorn
    assert isinstance(plain["older_collections"], int) and plain["older_collections"] >= 10
    assert plain["frozen"] == 0
    assert served["older_collections"] == 0
    assert served["thresholds_kept"] is True and served["enabled"] is True
    # What was built is kept out of later collections (well over 100,000 objects).
    assert isinstance(served["frozen"], int) and served["frozen"] > 100_000
