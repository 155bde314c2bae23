"""Job progress and alert events, fanned out to every API replica.

Workers and API processes publish to one Redis pub/sub channel; each replica's WebSocket
handlers subscribe to it and forward the events of the connected user. Without Redis
(embedded default) everything runs in one process and a local hub does the same job.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from cerflow.config import Settings
from cerflow.redis import redis_errors

if TYPE_CHECKING:
    import redis

log = structlog.get_logger(__name__)

Listener = Callable[[dict[str, Any]], None]


def channel(settings: Settings) -> str:
    return f"{settings.redis_key_prefix}events"


class LocalHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def _unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return _unsubscribe

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event_listener_failed")


local_hub = LocalHub()

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client(url: str) -> redis.Redis:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis  # only with CERFLOW_REDIS_URL: the embedded API never loads it

            client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
            _clients[url] = client
        return client


def publish(settings: Settings, event: dict[str, Any]) -> None:
    """Best effort: a lost progress event is harmless (the jobs table has the truth)."""
    if settings.redis_url:
        try:
            _client(settings.redis_url).publish(channel(settings), json.dumps(event, default=str))
        except redis_errors() as exc:
            log.warning("event_publish_failed", error=type(exc).__name__, type=event.get("type"))
    else:
        local_hub.publish(event)
