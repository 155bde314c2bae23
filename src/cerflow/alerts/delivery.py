"""Send one alert everywhere its user listens: WebSocket (pub/sub), webhooks, e-mail."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import User
from cerflow.config import Settings
from cerflow.jobs import events
from cerflow.jobs.errors import describe
from cerflow.jobs.routing import TaskSender
from cerflow.notify.email import send_alert_email
from cerflow.webhooks.models import Webhook
from cerflow.webhooks.tasks import enqueue_delivery

log = structlog.get_logger(__name__)


def deliver_alert(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    event: dict[str, Any],
    sender: TaskSender | None = None,
) -> None:
    """`sender` (the worker's Celery app) queues webhook deliveries; without it they run here."""
    events.publish(settings, event)
    user_id = event.get("user_id")
    with factory() as session:
        hooks = list(
            session.scalars(
                select(Webhook.id).where(Webhook.user_id == user_id, Webhook.active.is_(True))
            )
        )
        user = session.get(User, user_id) if user_id is not None else None
        email = user.email if user is not None else None
    for hook_id in hooks:
        enqueue_delivery(
            settings=settings, factory=factory, sender=sender, webhook_id=hook_id, event=event
        )
    if email and settings.smtp_host:
        try:
            send_alert_email(settings=settings, to=email, event=event)
        except Exception as exc:
            log.warning("alert_email_failed", error=describe(exc, settings))
