"""Celery's entry point: `celery -A cerflow.jobs.worker worker|beat ...`.

`cerflow worker` and `cerflow beat` start this app. It is built when Celery (or those
commands) load this module, from the process's settings, with every task and the beat
schedule of `cerflow.jobs.registry`; nothing else imports it, so no other module builds
a Celery app at import time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init

from cerflow.config import Settings, get_settings
from cerflow.jobs import registry
from cerflow.jobs.celery_app import make_celery
from cerflow.jobs.liveness import ConsumerHeartbeat
from cerflow.jobs.runtime import runtime
from cerflow.observability.logging import configure_logging


def create_worker_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    worker_app = make_celery(settings)
    registry.install(worker_app, settings)
    worker_app.steps["consumer"].add(ConsumerHeartbeat)
    return worker_app


def _process_name() -> str:
    return "beat" if "beat" in sys.argv[1:] else "worker"


# Connected, this signal makes Celery leave logging alone (no handler of its own on the
# root, no stdout redirected to a WARNING logger): every line of the worker, its pool
# children and beat, Celery's own included, goes through our redaction and renderer.
@setup_logging.connect  # type: ignore[untyped-decorator]  # celery ships no annotations
def _setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    configure_logging(get_settings(), process=_process_name(), level=loglevel or None)


@worker_process_init.connect  # type: ignore[untyped-decorator]  # celery ships no annotations
def _after_fork(**_: Any) -> None:
    runtime.reset()
    # The child inherits the handler; this re-applies it (at the parent's level) in case
    # a library changed it before the fork.
    configure_logging(get_settings(), process="worker", level=logging.getLogger().level)


app = create_worker_app()
celery = app  # `celery -A cerflow.jobs.worker` finds `app` or `celery`
