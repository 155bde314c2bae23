"""A scheduled refresh of a watched product with a planted signal raises exactly one alert."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.alerts.models import Alert
from cerflow.alerts.tasks import schedule_due_refreshes
from cerflow.auth.models import User
from cerflow.config import Settings
from cerflow.db import make_engine, make_session_factory
from cerflow.jobs import events
from cerflow.jobs.models import Job
from cerflow.jobs.registry import PIPELINES
from cerflow.jobs.runner import execute
from cerflow.products.models import WatchedProduct
from tests.conftest import PgDatabases
from tests.replay.openfda_server import OpenFDAReplayServer
from tests.system.conftest import job_settings
from tests.system.store_seed import SIGNAL_CODE, SIGNAL_TERM, seed

pytestmark = [pytest.mark.postgres]


class _Sends:
    """Stands in for the broker: records what beat would send, the test runs it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def send_task(self, name: str, args: list[Any], **_: Any) -> None:
        self.sent.append((name, args))


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.got = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        self.got.set()
        return "250 OK"


@pytest.fixture
def alerts_pg_engine(pg_databases: PgDatabases) -> Iterator[Engine]:
    """Its own database: the planted product must not meet the system tests' copy of it."""
    engine = make_engine(pg_databases.create("alerts"))
    yield engine
    engine.dispose()


def test_beat_refresh_raises_one_alert_and_emails_it(
    alerts_pg_engine: Engine, tmp_path: Path
) -> None:
    seed(alerts_pg_engine, prefix=f"alert-{uuid.uuid4().hex[:6]}")
    factory: sessionmaker[Session] = make_session_factory(alerts_pg_engine)
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = int(probe.getsockname()[1])
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    with OpenFDAReplayServer() as fda:
        base = job_settings(
            alerts_pg_engine.url.render_as_string(hide_password=False),
            tmp_path,
            uuid.uuid4().hex[:8],
        )
        settings: Settings = base.model_copy(
            update={
                "redis_url": None,
                "openfda_base_url": fda.base_url,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "none",
            }
        )
        got: list[dict[str, Any]] = []
        unsubscribe = events.local_hub.subscribe(got.append)
        email = f"watcher-{uuid.uuid4().hex[:6]}@example.org"
        with factory() as session:
            user = User(email=email, password_hash="x", role="analyst", is_active=True)
            session.add(user)
            session.flush()
            session.add(WatchedProduct(user_id=user.id, product_ref=SIGNAL_CODE, kind="device"))
            session.commit()
            user_id = user.id
        try:
            for _ in range(2):  # the second beat (same slot) and a re-run add nothing
                sends = _Sends()
                schedule_due_refreshes(settings=settings, factory=factory, app=sends)  # type: ignore[arg-type]
                for _name, args in sends.sent:
                    outcome = execute(
                        args[0],
                        settings=settings,
                        engine=alerts_pg_engine,
                        factory=factory,
                        pipelines=PIPELINES,
                    )
                    assert outcome.state == "succeeded"
            with factory() as session:
                alerts = list(session.scalars(select(Alert).where(Alert.user_id == user_id)))
                jobs = list(session.scalars(select(Job).where(Job.owner_id == user_id)))
            assert len(jobs) == 1 and jobs[0].type == "refresh"
            assert [(a.kind, a.payload["event"].lower()) for a in alerts] == [
                ("signal", SIGNAL_TERM)
            ]
            assert alerts[0].payload["a"] == 30  # planted: 30 of the 40 PSG reports
            assert [e["alert_id"] for e in got if e["type"] == "alert"] == [alerts[0].id]
            assert inbox.got.wait(10)
            assert len(inbox.messages) == 1
            assert inbox.messages[0].rcpt_tos == [email]
            assert b"thermal burn" in inbox.messages[0].content.lower()
            assert fda.requests_to("/device/event.json")  # the refresh did ask openFDA
        finally:
            unsubscribe()
            smtp.stop()
            with factory() as session:
                session.execute(delete(Job).where(Job.owner_id == user_id))
                session.execute(delete(User).where(User.id == user_id))
                session.commit()
