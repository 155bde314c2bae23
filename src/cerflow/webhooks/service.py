"""Webhook registration and delivery: signed POSTs, a delivery log, auto-disable.

Targets pass `url_policy` twice: at creation (422) and right before every delivery, whose
connection goes to the address just vetted (DNS rebinding) and never follows a redirect.

Every attempt is logged. Success resets the failure counter; each failed attempt raises
it, and at `webhook_disable_after_failures` consecutive failures the hook is disabled
with the reason (last status or error) so its owner can see why and re-enable it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings, get_settings
from cerflow.errors import NotFoundError
from cerflow.jobs.errors import backoff_seconds, redact
from cerflow.jobs.metrics import WEBHOOK_DELIVERIES
from cerflow.jobs.models import utcnow
from cerflow.webhooks import signing, url_policy
from cerflow.webhooks.models import Webhook, WebhookDelivery

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger(__name__)


def new_secret() -> str:
    return signing.new_secret()


def allowlist(settings: Settings) -> url_policy.Allowlist:
    return url_policy.Allowlist(settings.webhook_allowed_targets)


def create(
    *,
    session: Session,
    user_id: int,
    url: str,
    events: list[str],
    settings: Settings | None = None,
) -> Webhook:
    """Register a hook; `url_policy.WebhookURLRefused` (422) for a non-public target."""
    url_policy.vet(url, allow=allowlist(settings or get_settings()), require_resolution=False)
    hook = Webhook(
        user_id=user_id,
        url=url,
        secret=new_secret(),
        events=list(events),
        active=True,
        consecutive_failures=0,
        created_at=utcnow(),
    )
    session.add(hook)
    session.flush()
    return hook


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # delivered | failed | disabled | skipped
    retry_in: float | None = None


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def deliver_once(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    webhook_id: int,
    event: dict[str, Any],
    attempt: int,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    import httpx  # delivery runs in a job; the API registering hooks needs no HTTP client

    with factory() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None or not hook.active:
            return DeliveryResult("skipped")
        if hook.events and event.get("type") not in hook.events:
            return DeliveryResult("skipped")
        url, secret = hook.url, hook.secret
    body = _body(event)
    ts = int(time.time())
    event_id = str(event.get("id") or uuid.uuid4().hex)
    headers = {
        "Content-Type": "application/json",
        **signing.standard_headers(secret, event_id, ts, body),
        signing.TIMESTAMP_HEADER: str(ts),
        signing.SIGNATURE_HEADER: signing.sign(secret, ts, body),
        signing.EVENT_HEADER: str(event.get("type", "event")),
        signing.DELIVERY_HEADER: event_id,
        "User-Agent": "cerflow-webhooks/1",
    }
    status_code: int | None = None
    error: str | None = None
    start = time.monotonic()
    try:
        # Re-checked now: the DNS answer may have changed since creation; connect to the
        # vetted address only (Host and SNI keep the name) and never follow redirects.
        target = url_policy.vet(url, allow=allowlist(settings))
        send_url, pin_headers, extensions = url_policy.pinned_request(target)
        if client is None:
            with httpx.Client(
                timeout=settings.webhook_timeout_seconds, follow_redirects=False
            ) as own:
                resp = own.post(
                    send_url,
                    content=body,
                    headers={**headers, **pin_headers},
                    extensions=extensions,
                )
        else:
            resp = client.post(
                send_url,
                content=body,
                headers={**headers, **pin_headers},
                extensions=extensions,
                follow_redirects=False,
            )
        status_code = resp.status_code
        if not 200 <= resp.status_code < 300:
            error = f"receiver answered HTTP {resp.status_code}"
    except url_policy.WebhookURLRefused as exc:
        error = f"not sent: {exc}"
    except httpx.HTTPError as exc:
        error = redact(f"{type(exc).__name__}: {exc}", settings)
    ok = error is None
    with factory() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None:
            return DeliveryResult("skipped")
        session.add(
            WebhookDelivery(
                webhook_id=webhook_id,
                event_id=event_id[:64],
                event=str(event.get("type", "event"))[:64],
                attempt=attempt,
                ok=ok,
                status_code=status_code,
                error=error,
                duration_ms=int((time.monotonic() - start) * 1000),
                created_at=utcnow(),
            )
        )
        if ok:
            hook.consecutive_failures = 0
            session.commit()
            WEBHOOK_DELIVERIES.labels(result="delivered").inc()
            return DeliveryResult("delivered")
        hook.consecutive_failures += 1
        if hook.consecutive_failures >= settings.webhook_disable_after_failures:
            hook.active = False
            hook.disabled_reason = (
                f"disabled after {hook.consecutive_failures} consecutive failed deliveries; "
                f"last: {error}"
            )
            session.commit()
            log.warning("webhook_disabled", webhook_id=webhook_id)
            WEBHOOK_DELIVERIES.labels(result="disabled").inc()
            return DeliveryResult("disabled")
        session.commit()
    WEBHOOK_DELIVERIES.labels(result="failed").inc()
    if attempt >= settings.webhook_max_attempts:
        return DeliveryResult("failed")
    return DeliveryResult(
        "failed",
        retry_in=backoff_seconds(attempt, base=settings.webhook_retry_backoff_seconds, cap=3600),
    )


def deliver_with_retries(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    webhook_id: int,
    event: dict[str, Any],
) -> DeliveryResult:
    """Embedded mode (no broker): retry in this thread with the same backoff."""
    attempt = 1
    while True:
        result = deliver_once(
            settings=settings, factory=factory, webhook_id=webhook_id, event=event, attempt=attempt
        )
        if result.retry_in is None:
            return result
        time.sleep(result.retry_in)
        attempt += 1


# --- a user's webhooks, for the HTTP endpoints (queries live here, not in endpoints) ----


def own(*, session: Session, user_id: int, hook_id: int) -> Webhook:
    """The caller's webhook; another user's gets the same 404 as a missing one."""
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.user_id != user_id:
        raise NotFoundError(f"no webhook with id {hook_id}")
    return hook


def list_for_user(*, session: Session, user_id: int) -> list[Webhook]:
    return list(
        session.scalars(select(Webhook).where(Webhook.user_id == user_id).order_by(Webhook.id))
    )


def enable(*, session: Session, user_id: int, hook_id: int) -> Webhook:
    """Re-activate after automatic disabling; the failure count starts again at zero."""
    hook = own(session=session, user_id=user_id, hook_id=hook_id)
    hook.active, hook.consecutive_failures, hook.disabled_reason = True, 0, None
    session.flush()
    return hook


def recent_deliveries(
    *, session: Session, user_id: int, hook_id: int, limit: int = 100
) -> list[WebhookDelivery]:
    own(session=session, user_id=user_id, hook_id=hook_id)
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def delete(*, session: Session, user_id: int, hook_id: int) -> None:
    session.delete(own(session=session, user_id=user_id, hook_id=hook_id))
