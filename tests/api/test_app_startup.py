"""The API process imports what serving requests needs and no more.

Readiness time is measured in benchmarks/startup.py; this guards the architecture behind
it: Celery (and kombu, yaml), Alembic, Polars and the numeric stack load with the first job, the
first readiness probe or the first trend, never with the process."""

from __future__ import annotations

import json
import subprocess
import sys

NOT_AT_START = (
    "celery", "kombu", "alembic", "numpy", "scipy", "statsmodels", "matplotlib",
    "weasyprint", "docx", "typer", "polars",
)  # fmt: skip


def test_importing_the_app_loads_no_job_migration_or_numeric_library() -> None:
    code = (
        "import json, sys, cerflow.app\n"
        "tops = {m.split('.')[0] for m in sys.modules}\n"
        f"print(json.dumps(sorted(tops & set({NOT_AT_START!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
