"""One registry: every job type and task has code, and only the worker entry builds an app."""

from __future__ import annotations

import subprocess
import sys

from pydantic import SecretStr

from cerflow.config import Settings
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.registry import CELERY_TASKS, PIPELINES
from cerflow.jobs.routing import (
    DELIVER_WEBHOOK_TASK,
    RUN_TASK,
    SCHEDULE_REFRESHES_TASK,
    SWEEP_TASK,
)
from cerflow.jobs.service import JOB_TYPES
from cerflow.jobs.worker import create_worker_app


def _settings() -> Settings:
    return Settings(redis_url=None, secret_key=SecretStr("registry-test-" + "k" * 40))


def test_every_job_type_and_task_name_has_code() -> None:
    assert set(PIPELINES) == set(JOB_TYPES)
    assert set(CELERY_TASKS) == {
        RUN_TASK,
        SWEEP_TASK,
        SCHEDULE_REFRESHES_TASK,
        DELIVER_WEBHOOK_TASK,
    }


def test_the_worker_app_carries_the_tasks_and_beat_schedule_a_producer_does_not() -> None:
    worker = create_worker_app(_settings())
    assert set(CELERY_TASKS) <= set(worker.tasks)
    beat = {entry["task"] for entry in worker.conf.beat_schedule.values()}
    assert beat == {SWEEP_TASK, SCHEDULE_REFRESHES_TASK}
    producer = make_celery(_settings())
    assert not set(CELERY_TASKS) & set(producer.tasks)


def test_importing_the_api_builds_no_celery_app() -> None:
    code = (
        "import sys, cerflow.app, cerflow.cli; "
        "assert 'cerflow.jobs.worker' not in sys.modules, 'worker entry imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
