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
from cerflow.webhooks.models import Webhook

log = structlog.get_logger(__name__)


def deliver_alert(
    *, settings: Settings, factory: sessionmaker[Session], event: dict[str, Any]
) -> None:
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
        _queue_webhook(settings, factory, hook_id, event)
    if email and settings.smtp_host:
        from cerflow.notify.email import send_alert_email

        try:
            send_alert_email(settings=settings, to=email, event=event)
        except Exception as exc:
            log.warning("alert_email_failed", error=describe(exc, settings))


def _queue_webhook(
    settings: Settings, factory: sessionmaker[Session], hook_id: int, event: dict[str, Any]
) -> None:
    if settings.effective_broker_url:
        from cerflow.jobs.celery_app import DELIVER_WEBHOOK_TASK, app

        try:
            app.send_task(DELIVER_WEBHOOK_TASK, args=(hook_id, event, 1))
            return
        except Exception as exc:
            log.warning("webhook_enqueue_failed", error=type(exc).__name__)
    from cerflow.webhooks.service import deliver_with_retries

    deliver_with_retries(settings=settings, factory=factory, webhook_id=hook_id, event=event)
