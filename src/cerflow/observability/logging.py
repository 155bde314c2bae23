"""structlog through stdlib logging: one pipeline for our logs and for libraries' logs.

JSON lines in production (one object per event, machine-parsable), a readable console in
development. A request id is bound by middleware through contextvars, so every line of a
request carries it. Secrets are redacted by key name and by shape (JWTs, API keys,
bearer headers, URL passwords) before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from cerflow.config import Environment, Settings

_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|api[_-]?key|cookie|credential", re.IGNORECASE
)
_SECRET_SHAPES = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[REDACTED-JWT]"),
    (re.compile(r"cfk_[A-Za-z0-9_-]+"), "[REDACTED-API-KEY]"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[REDACTED]"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[REDACTED]@"),
]
REDACTED = "[REDACTED]"


def redact_text(text: str) -> str:
    for pattern, repl in _SECRET_SHAPES:
        text = pattern.sub(repl, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key == "event" and isinstance(event_dict[key], str):
            event_dict[key] = redact_text(event_dict[key])
        elif key != "event":
            event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Idempotent: safe to call from every app factory and every CLI command."""
    as_json = (
        settings.log_json
        if settings.log_json is not None
        else settings.environment == Environment.PRODUCTION
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[
            # First: a line below the level (the access log at WARNING) is dropped before
            # the timestamp and context are built for it, i.e. at almost no cost per request.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("cerflow")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "cerflow"]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log would duplicate ours (and bypass redaction).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False
