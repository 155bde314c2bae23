"""Alert e-mails through SMTP (smtplib): STARTTLS, implicit TLS or plain, per settings."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from cerflow.config import Settings


def build_message(*, settings: Settings, to: str, event: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = f"[cerflow] {event.get('title', 'New alert')}"
    payload = event.get("payload") or {}
    lines = [str(event.get("title", "New alert")), ""]
    lines += [f"{k}: {v}" for k, v in sorted(payload.items())]
    lines += ["", "You receive this because you watch this product in cerflow."]
    msg.set_content("\n".join(lines))
    return msg


def send(*, settings: Settings, message: EmailMessage) -> None:
    if not settings.smtp_host:
        raise ValueError("CERFLOW_SMTP_HOST is not set; e-mail alerts are off")
    context = ssl.create_default_context()
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_user and settings.smtp_password is not None:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def send_alert_email(*, settings: Settings, to: str, event: dict[str, Any]) -> None:
    send(settings=settings, message=build_message(settings=settings, to=to, event=event))
