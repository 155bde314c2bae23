"""The worker's own health and metrics port: `/health/live`, `/health/ready`, `/metrics`.

A Celery worker serves no HTTP, and `celery inspect ping` through the broker is slow and
says nothing about the database. This tiny server runs as a thread in the worker's main
process (forked pool children inherit no threads). Readiness pings the broker and runs
`SELECT 1`; `/metrics` aggregates the pool children's samples (multiprocess mode).

The database check opens a fresh connection each time (no pool): pooled sockets in the
parent would be inherited by every forked child, and a child closing its copy could end
the parent's session.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cerflow.config import Settings
from cerflow.observability.metrics import render_latest

log = structlog.get_logger(__name__)

Check = Callable[[], bool]


def database_check(settings: Settings) -> Check:
    url = settings.effective_database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args: dict[str, Any] = {"connect_timeout": 3} if url.startswith("postgres") else {}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)

    def check() -> bool:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    return check


def broker_check(settings: Settings) -> Check:
    url = settings.effective_broker_url

    def check() -> bool:
        if not url:
            return False
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        from kombu.connection import Connection

        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True

    return check


def _run(check: Check) -> str:
    try:
        return "ok" if check() else "unavailable"
    except Exception as exc:  # the reason goes to the log, never a URL or password
        log.warning("worker_health_check_failed", error=type(exc).__name__)
        return "unavailable"


class HealthServer:
    """Started with `start()`; `port` is the bound port (useful when asked for 0)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        broker: Check,
        database: Check,
        worker: str = "",
        liveness: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
    ) -> None:
        checks = {"broker": broker, "database": database}

        class Handler(BaseHTTPRequestHandler):
            server_version = "cerflow-worker"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/health/live":
                    alive, detail = liveness() if liveness else (True, {})
                    body = {"status": "ok" if alive else "stalled", "worker": worker} | detail
                    self._json(200 if alive else 503, body)
                elif path == "/health/ready":
                    results = {name: _run(check) for name, check in checks.items()}
                    ok = all(v == "ok" for v in results.values())
                    self._json(
                        200 if ok else 503, {"status": "ok" if ok else "unavailable"} | results
                    )
                elif path == "/metrics":
                    data, content_type = render_latest()
                    self._send(200, data, content_type)
                else:
                    self._json(404, {"detail": f"no route {path}"})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # probes every few seconds: no noise
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="cerflow-worker-health"
        )

    def start(self) -> HealthServer:
        self.thread.start()
        log.info("worker_health_serving", port=self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve_worker_health(
    settings: Settings, port: int, host: str = "0.0.0.0", *, watch_consumer: bool = False
) -> HealthServer:
    """Raises OSError when the port cannot be bound. With `watch_consumer`, liveness
    follows the consumer loop's heartbeat (`cerflow.jobs.liveness`)."""
    from cerflow.jobs import liveness

    def consumer() -> tuple[bool, dict[str, Any]]:
        return liveness.consumer_alive(
            settings.worker_liveness_seconds, settings.worker_startup_grace_seconds
        )

    if watch_consumer:
        from cerflow.observability.metrics import add_live_collector

        add_live_collector(liveness.ConsumerHeartbeatCollector())
    return HealthServer(
        host,
        port,
        broker=broker_check(settings),
        database=database_check(settings),
        liveness=consumer if watch_consumer else None,
    ).start()
