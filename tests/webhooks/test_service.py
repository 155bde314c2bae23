"""Webhook deliveries reach a local receiver signed correctly; failures retry, then disable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from cerflow.auth.models import User
from cerflow.config import Settings
from cerflow.db import make_session_factory
from cerflow.webhooks import service, signing, url_policy
from cerflow.webhooks.models import Webhook, WebhookDelivery
from tests.system.conftest import job_settings

pytestmark = [pytest.mark.postgres]


class _Receiver:
    def __init__(self, status: int, location: str | None = None) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.status)
                if location is not None:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def factory(jobs_pg_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(jobs_pg_engine)


@pytest.fixture
def user_id(factory: sessionmaker[Session]) -> Any:
    with factory() as session:
        user = User(
            email=f"hook-{uuid.uuid4().hex[:6]}@example.org", password_hash="x", role="analyst"
        )
        session.add(user)
        session.commit()
        uid = user.id
    yield uid
    with factory() as session:
        session.execute(delete(User).where(User.id == uid))
        session.commit()


def local_settings(pg_url: str, tmp_path: Path) -> Settings:
    """Settings that allow the local receiver (127.0.0.1) as an internal webhook target."""
    return job_settings(pg_url, tmp_path, "wh").model_copy(
        update={"webhook_allowed_targets": ["127.0.0.1/32"]}
    )


def _hook(
    factory: sessionmaker[Session], user_id: int, url: str, settings: Settings
) -> tuple[int, str]:
    with factory() as session:
        hook = service.create(
            session=session, user_id=user_id, url=url, events=[], settings=settings
        )
        session.commit()
        return hook.id, hook.secret


EVENT = {"type": "alert", "id": "alert-1", "title": "New signal for PSG: thermal burn"}


def test_receiver_gets_a_correctly_signed_payload(
    factory: sessionmaker[Session], user_id: int, jobs_pg_url: str, tmp_path: Path
) -> None:
    settings = local_settings(jobs_pg_url, tmp_path)
    receiver = _Receiver(204)
    try:
        hook_id, secret = _hook(factory, user_id, receiver.url, settings)
        result = service.deliver_with_retries(
            settings=settings, factory=factory, webhook_id=hook_id, event=EVENT
        )
    finally:
        receiver.stop()
    assert result.status == "delivered"
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert json.loads(body) == EVENT
    ts = headers[signing.TIMESTAMP_HEADER]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[signing.SIGNATURE_HEADER] == "sha256=" + expected
    assert signing.verify(secret, int(ts), body, headers[signing.SIGNATURE_HEADER])
    assert not signing.verify("wrong", int(ts), body, headers[signing.SIGNATURE_HEADER])
    # Standard Webhooks: a stock library verifies with the secret as shown to the user.
    assert secret.startswith("whsec_")
    std = {k.lower(): v for k, v in headers.items()}
    assert std["webhook-id"] == "alert-1"
    assert StandardWebhook(secret).verify(body, std) == EVENT
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(signing.new_secret()).verify(body, std)
    # And by hand, from the specification: v1,<base64 HMAC-SHA256 of "id.timestamp.body">.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{std['webhook-id']}.{std['webhook-timestamp']}.".encode() + body
    mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{mac}" in std["webhook-signature"].split()


def test_delivery_rechecks_the_target_and_never_reaches_an_internal_address(
    factory: sessionmaker[Session],
    user_id: int,
    jobs_pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = _Receiver(204)
    port = receiver.httpd.server_address[1]
    try:
        # Created while the name did not resolve; by delivery it points at loopback.
        hook_id, _ = _hook(
            factory,
            user_id,
            f"http://rebind.example.org:{port}/hook",
            job_settings(jobs_pg_url, tmp_path, "wh"),
        )
        monkeypatch.setattr(url_policy, "system_resolver", lambda _h, _p: ["127.0.0.1"])
        result = service.deliver_once(
            settings=job_settings(jobs_pg_url, tmp_path, "wh"),
            factory=factory,
            webhook_id=hook_id,
            event=EVENT,
            attempt=5,
        )
    finally:
        receiver.stop()
    assert result.status == "failed"
    assert receiver.received == []
    with factory() as session:
        (delivery,) = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)
        )
    assert delivery.status_code is None
    assert delivery.error is not None and "non-public address" in delivery.error


def test_redirects_are_not_followed(
    factory: sessionmaker[Session], user_id: int, jobs_pg_url: str, tmp_path: Path
) -> None:
    settings = local_settings(jobs_pg_url, tmp_path)
    inner = _Receiver(204)
    outer = _Receiver(307, location=inner.url)
    try:
        hook_id, _ = _hook(factory, user_id, outer.url, settings)
        result = service.deliver_once(
            settings=settings, factory=factory, webhook_id=hook_id, event=EVENT, attempt=5
        )
    finally:
        inner.stop()
        outer.stop()
    assert result.status == "failed"
    assert len(outer.received) == 1
    assert inner.received == []


def test_failing_receiver_is_retried_then_disabled_with_the_reason(
    factory: sessionmaker[Session], user_id: int, jobs_pg_url: str, tmp_path: Path
) -> None:
    settings = local_settings(jobs_pg_url, tmp_path).model_copy(
        update={
            "webhook_max_attempts": 3,
            "webhook_retry_backoff_seconds": 0.05,
            "webhook_disable_after_failures": 5,
        }
    )
    receiver = _Receiver(503)
    try:
        hook_id, _ = _hook(factory, user_id, receiver.url, settings)
        first = service.deliver_with_retries(
            settings=settings, factory=factory, webhook_id=hook_id, event=EVENT
        )
        second = service.deliver_with_retries(
            settings=settings, factory=factory, webhook_id=hook_id, event=EVENT
        )
        third = service.deliver_with_retries(
            settings=settings, factory=factory, webhook_id=hook_id, event=EVENT
        )
    finally:
        receiver.stop()
    # 3 attempts, then 2 more reach the limit of 5 consecutive failures; nothing after.
    assert (first.status, second.status, third.status) == ("failed", "disabled", "skipped")
    assert len(receiver.received) == 5
    with factory() as session:
        hook = session.get(Webhook, hook_id)
        assert hook is not None and hook.active is False
        assert hook.disabled_reason is not None
        assert "5 consecutive failed deliveries" in hook.disabled_reason
        assert "HTTP 503" in hook.disabled_reason
        log = list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook_id)
                .order_by(WebhookDelivery.id)
            )
        )
    assert [d.attempt for d in log] == [1, 2, 3, 1, 2]
    assert [d.status_code for d in log] == [503] * 5 and not any(d.ok for d in log)
