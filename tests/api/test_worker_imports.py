"""What an API worker has imported after serving a product detail (issue 17 goal 6).

The detail's trend test is pure Python (`analysis.trend_test`), so computing a detail - a
cache miss - must not load NumPy, Polars or SciPy into the worker: together about 100 MB of
resident memory per worker, against a goal of 200 MB. Memory itself is measured in
benchmarks/api_load.py; this guards the architecture behind it, on the embedded store
(SQLite, in-process cache) in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "polars", "scipy", "pandas", "statsmodels", "matplotlib", "pyarrow")

SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from pydantic import SecretStr
from cerflow.app import create_app
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.db import make_engine, make_session_factory
from cerflow.store import migrate
from cerflow.unit_of_work import unit_of_work
from tests.api.seed import seed_products

url = "sqlite:///" + sys.argv[1]
settings = Settings(
    environment=Environment.TESTING, database_url=url, redis_url=None,
    secret_key=SecretStr("s" * 48),
)
engine = make_engine(url)
migrate.upgrade(engine)
factory = make_session_factory(engine)
seed_products(factory)
with unit_of_work(factory) as s:
    user = auth_service.create_user(
        session=s, email="v@example.org", password="pw " * 6, role=Role.VIEWER
    )
    token = auth_service.issue_tokens(session=s, settings=settings, user=user).access_token
with TestClient(create_app(settings, session_factory=factory)) as client:
    h = {"Authorization": "Bearer " + token}
    miss = client.get("/api/v1/products/DQA", headers=h)
    hit = client.get("/api/v1/products/DQA", headers=h)
tops = {m.split(".")[0] for m in sys.modules}
print(json.dumps({
    "statuses": [miss.status_code, hit.status_code],
    "cache": [miss.headers.get("x-cache"), hit.headers.get("x-cache")],
    "trend": miss.json()["trend"],
    "heavy": sorted(tops & set(HEAVY)),
}))
"""


def test_a_product_detail_loads_no_numeric_library_into_the_worker(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + SCRIPT, str(tmp_path / "store.db")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["statuses"] == [200, 200]
    assert out["cache"] == ["miss", "hit"]
    # 3 months (2, 0, 1): too short for the normal approximation, computed all the same.
    assert out["trend"]["months"] == 3
    assert out["trend"]["direction"] == "no trend"
    assert out["heavy"] == []
