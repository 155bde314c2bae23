"""A real beat process touches its liveness file; `cerflow beat-check` follows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.jobs.liveness import beat_alive_path
from tests.conftest import REDIS_TEST_URL
from tests.jobs.test_health_server import _redis_up


@pytest.mark.skipif(not _redis_up(), reason="the test Redis does not answer")
def test_beat_ticks_and_beat_check_follows(tmp_path: Path) -> None:
    schedule = tmp_path / "beat" / "celerybeat-schedule"
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "CERFLOW_ENVIRONMENT": "testing",
        "CERFLOW_DATA_DIR": str(tmp_path),
        "CERFLOW_REDIS_URL": REDIS_TEST_URL,
        "CERFLOW_CELERY_QUEUE_PREFIX": f"beattest-{tag}-",
        "CERFLOW_REDIS_KEY_PREFIX": f"cerflow-beattest:{tag}:",
        "CERFLOW_SECRET_KEY": "beat-test-secret-" + "b" * 40,
    }
    runner = CliRunner()
    missing = runner.invoke(app, ["beat-check", "--schedule", str(schedule)])
    assert missing.exit_code == 1 and "has not ticked for ever" in missing.output
    log = (tmp_path / "beat.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerflow.cli", "beat", "--schedule", str(schedule)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not beat_alive_path(schedule).exists():
            assert proc.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, "beat never ticked"
            time.sleep(0.5)
        ok = runner.invoke(app, ["beat-check", "--schedule", str(schedule)])
        assert ok.exit_code == 0 and "beat ticked" in ok.output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    old = time.time() - 600
    os.utime(beat_alive_path(schedule), (old, old))
    stale = runner.invoke(app, ["beat-check", "--schedule", str(schedule), "--max-age", "180"])
    assert stale.exit_code == 1 and "limit 180 s" in stale.output
