"""Webhook deliveries as tasks: one signed POST per attempt, retried with backoff.

With a broker, each attempt is a `DELIVER_WEBHOOK_TASK` on the housekeeping queue and a
failed attempt schedules the next one with a countdown, so no worker sleeps through a
backoff. Without one (the embedded mode) the attempts run in the calling thread.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings
from cerflow.jobs.routing import DELIVER_WEBHOOK_TASK, TaskSender
from cerflow.jobs.runtime import runtime
from cerflow.webhooks.service import deliver_once, deliver_with_retries

log = structlog.get_logger(__name__)


def deliver_webhook(task: Task, webhook_id: int, event: dict[str, Any], attempt: int = 1) -> str:
    """The worker's task (`DELIVER_WEBHOOK_TASK`): one attempt, and the next one if due."""
    result = deliver_once(
        settings=runtime.settings,
        factory=runtime.factory,
        webhook_id=webhook_id,
        event=event,
        attempt=attempt,
    )
    if result.retry_in is not None:
        task.apply_async(args=(webhook_id, event, attempt + 1), countdown=result.retry_in)
    return result.status


def enqueue_delivery(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    sender: TaskSender | None,
    webhook_id: int,
    event: dict[str, Any],
) -> None:
    """Send the first attempt to a worker; deliver here when there is no broker (or it fails)."""
    if sender is not None and settings.effective_broker_url:
        try:
            sender.send_task(DELIVER_WEBHOOK_TASK, args=(webhook_id, event, 1))
            return
        except Exception as exc:
            log.warning("webhook_enqueue_failed", error=type(exc).__name__)
    deliver_with_retries(settings=settings, factory=factory, webhook_id=webhook_id, event=event)
