"""An unreachable database fails within the connect timeout, not the kernel's minutes."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cerflow.config import Settings
from cerflow.db import make_engine


def test_unreachable_postgres_fails_within_the_connect_timeout() -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so a SYN gets no answer.
    settings = Settings(db_connect_timeout_seconds=1, db_pool_timeout=1)
    engine = make_engine("postgresql+psycopg://u:p@192.0.2.1:5432/x", settings=settings)
    started = time.monotonic()
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert time.monotonic() - started < 5
    engine.dispose()
