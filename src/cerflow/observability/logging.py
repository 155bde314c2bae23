"""One logging set-up for every process: the API, Celery workers, beat and the CLI.

structlog runs through stdlib logging, so our own events and every library's records
(httpx, celery, kombu, sqlalchemy, uvicorn) leave through one handler whose
`ProcessorFormatter` applies the same redaction to every line: JSON lines in production
(`CERFLOW_LOG_JSON`, default on in production), a readable console otherwise.

Context (request id, user id, job id and type) is bound through contextvars by the API
middleware, the auth dependency and the job runner, so every line of a request or a job
carries it. Every line also names its `process` (api, worker, beat, cli).

Redaction never drops a line: it replaces the secret with `[redacted]`. It covers bearer
tokens and JWTs, our `cfk_` API keys, secret query/text parameters (`api_key=`, `token=`,
`password=`, ...), passwords in URLs of any scheme, `Authorization`/`Cookie`/`Set-Cookie`
values, values of keys named like secrets, the values of the settings marked SecretStr,
and e-mail addresses, masked to their first character and domain (`j***@example.org`) so
a support case can still be told apart without the address being in the logs.

httpx, httpcore and urllib3 log at WARNING at least: at INFO httpx writes every request
URL, and openFDA URLs carry the API key.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

from cerflow.config import Environment, Settings

REDACTED = "[redacted]"

_SECRET_KEYS = re.compile(
    r"(^|[_-])(pass(word|wd)?|pwd|secret|token|authorization|api[_-]?key|apikey|cookie|"
    r"credentials?|dsn)([_-]|$)",
    re.IGNORECASE,
)
# Order matters: URL passwords before e-mail addresses (`user:pw@host` is not an address).
_SECRET_SHAPES: list[tuple[re.Pattern[str], Any]] = [
    # scheme://user:password@host and scheme://:password@host (redis); the user is kept.
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@"),
        r"\1:" + REDACTED + "@",
    ),
    # Header values written as text: everything to the end of the line.
    (
        re.compile(
            r"(?im)\b((?:proxy-)?authorization|set-cookie|cookie|x-api-key)(['\"]?\s*[:=]\s*['\"]?)"
            r"[^\r\n'\"]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # Secret parameters in a URL query or in free text: api_key=..., token=..., ...
    (
        re.compile(
            r"(?i)\b(api[_-]?key|apikey|key|token|access_token|refresh_token|id_token|"
            r"password|passwd|pwd|secret|client_secret|signature|sig)=[^&\s'\",;]+"
        ),
        r"\1=" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),
    (re.compile(r"\bcfk_[A-Za-z0-9_-]+"), REDACTED),
    (
        re.compile(
            r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
        ),
        r"\1***@\2",
    ),
]
_MIN_KNOWN_SECRET = 4
# Values of this process's SecretStr settings, replaced wherever they appear.
_known_secrets: list[str] = []
_QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "hpack")
# Document rendering chatter: WeasyPrint logs a page-layout step per page at INFO and a
# warning for every SVG presentation attribute it handles itself (thousands per report);
# fontTools and matplotlib log font subsetting and lookup. Only their errors matter.
_RENDERING_LIBRARIES = ("weasyprint", "fontTools", "matplotlib", "PIL")


def set_known_secrets(values: Iterable[str]) -> None:
    """The literal secrets of this process (its SecretStr settings), longest first."""
    global _known_secrets
    _known_secrets = sorted(
        {v for v in values if len(v) >= _MIN_KNOWN_SECRET}, key=len, reverse=True
    )


def secrets_of(settings: Settings) -> list[str]:
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
    return values


def redact_text(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _SECRET_SHAPES:
        text = pattern.sub(repl, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, "") and not isinstance(value, bool):
        return REDACTED
    return _redact_any(value)


def _redact_any(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_any(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is rendered with str() by the renderer: redact that text now.
    return redact_text(str(value))


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The one redaction processor: the event, every value, and exception text."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in ("event", "exception", "stack"):
            event_dict[key] = _redact_any(value)
        elif key == "exc_info":
            continue  # rendered into "exception" by format_exc_info, which runs first
        else:
            event_dict[key] = _redact_value(key, value)
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is when the line is written, not when configured.

    The CLI configures logging on every command; under a test runner (CliRunner, capsys)
    the stderr of that moment is a buffer that is closed afterwards.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def wants_json(settings: Settings) -> bool:
    if settings.log_json is not None:
        return settings.log_json
    return settings.environment == Environment.PRODUCTION


def configure_logging(settings: Settings, *, process: str, level: str | int | None = None) -> None:
    """Idempotent: the API factory, the Celery signals and the CLI all call it.

    `level` overrides `settings.log_level` (a worker's `--loglevel`).
    """
    set_known_secrets(secrets_of(settings))
    configure_sentry(settings, process=process)

    def add_process(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("process", process)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        add_process,
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
        if wants_json(settings)
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
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("cerflow")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "cerflow"]
    root.addHandler(handler)
    resolved = level if level is not None else settings.log_level.upper()
    root.setLevel(resolved)
    root_level = root.getEffectiveLevel()
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root_level))
    for name in _RENDERING_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.ERROR, root_level))
    # A CLI user reads the command's own output (`cerflow db upgrade` prints the revision
    # reached); Alembic's per-revision INFO lines would bury it. Its warnings still show.
    if process == "cli":
        logging.getLogger("alembic").setLevel(max(logging.WARNING, root_level))
    # Libraries that install handlers of their own would write around the redaction:
    # their records go to the root handler instead.
    for name in ("uvicorn", "uvicorn.error", "celery", "kombu", "sqlalchemy"):
        lib = logging.getLogger(name)
        lib.handlers = []
        lib.propagate = True
    # Python warnings (Celery's "running as root", deprecations) would be written to
    # stderr as plain text around the handler: they become log records too.
    logging.captureWarnings(True)
    # uvicorn's own access log would duplicate ours (the middleware logs each request).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False


_sentry_on = False


def scrub_sentry_event(event: Any, _hint: Any = None) -> Any:
    """`before_send` for Sentry: the same redaction as the log lines (URLs with
    credentials or api keys, tokens, cookies, e-mail addresses), on every field."""
    return _redact_any(event)


def configure_sentry(settings: Settings, *, process: str) -> bool:
    """Send errors to Sentry when a DSN is set (once per process); off otherwise."""
    global _sentry_on
    if settings.sentry_dsn is None or _sentry_on:
        return _sentry_on
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    from cerflow import __version__

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment.value,
        release=f"cerflow@{__version__}",
        server_name=process,
        send_default_pii=False,  # no user IPs, cookies or bodies by default
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=scrub_sentry_event,
        before_send_transaction=scrub_sentry_event,
        before_breadcrumb=scrub_sentry_event,
        integrations=[
            CeleryIntegration(),
            # Error lines become events, info lines breadcrumbs (both scrubbed above).
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
    )
    _sentry_on = True
    return True
