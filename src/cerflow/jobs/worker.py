"""Celery's entry point: `celery -A cerflow.jobs.worker worker|beat ...`.

`cerflow worker` and `cerflow beat` start this app. It is built when Celery (or those
commands) load this module, from the process's settings, with every task and the beat
schedule of `cerflow.jobs.registry`; nothing else imports it, so no other module builds
a Celery app at import time.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from cerflow.config import Settings, get_settings
from cerflow.jobs import registry
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.runtime import runtime


def create_worker_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    worker_app = make_celery(settings)
    registry.install(worker_app, settings)
    return worker_app


@worker_process_init.connect  # type: ignore[untyped-decorator]  # celery ships no annotations
def _after_fork(**_: Any) -> None:
    runtime.reset()


app = create_worker_app()
celery = app  # `celery -A cerflow.jobs.worker` finds `app` or `celery`
