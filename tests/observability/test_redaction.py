"""The redaction processor over a table of inputs: every kind of secret, every place."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr

from cerflow.config import Environment, Settings
from cerflow.observability.logging import (
    REDACTED,
    redact_secrets,
    redact_text,
    secrets_of,
    set_known_secrets,
)
from tests.observability.secrets_table import CASES


@pytest.mark.parametrize(("kind", "text", "secret"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_secret_is_replaced_and_the_line_kept(
    kind: str, text: str, secret: str
) -> None:
    out = redact_text(text)
    assert secret not in out, kind
    assert out.split()[0] == text.split()[0]  # the line is kept, only the secret goes
    if kind == "e-mail":
        assert "j***@example.org" in out
    else:
        assert REDACTED in out


@pytest.mark.parametrize(("kind", "text", "secret"), CASES, ids=[c[0] for c in CASES])
def test_processor_redacts_event_values_nested_and_exception(
    kind: str, text: str, secret: str
) -> None:
    event: dict[str, Any] = {
        "event": text,
        "detail": text,
        "nested": {"inner": [text, {"deeper": text}]},
        "exception": f"Traceback ...\nValueError: {text}",
        "status": 200,
    }
    out = redact_secrets(None, "info", event)
    assert secret not in repr(out), kind
    assert out["status"] == 200


def test_values_of_keys_named_like_secrets() -> None:
    event = {
        "event": "login",
        "password": "x",
        "api_key": "whatever",
        "access_token": "t",
        "secret_key": "s",
        "authorization": "Basic abc",
        "set-cookie": "a=b",
        "tokens_used": 12,
        "passed": True,
    }
    out = redact_secrets(None, "info", event)
    for key in ("password", "api_key", "access_token", "secret_key", "authorization", "set-cookie"):
        assert out[key] == REDACTED, key
    assert out["tokens_used"] == 12 and out["passed"] is True


def test_secretstr_settings_values_anywhere() -> None:
    settings = Settings(
        environment=Environment.TESTING,
        openfda_api_key=SecretStr("raw-openfda-key-xyz"),
        llm_api_key=SecretStr("sk-llm-key-abcdef"),
    )
    set_known_secrets(secrets_of(settings))
    try:
        out = redact_text("odd place raw-openfda-key-xyz and sk-llm-key-abcdef here")
        assert "raw-openfda-key-xyz" not in out and "sk-llm-key-abcdef" not in out
        assert out.startswith("odd place ")
        assert redact_secrets(None, "info", {"event": "x", "v": SecretStr("a")})["v"] == REDACTED
    finally:
        set_known_secrets([])


def test_harmless_text_is_unchanged() -> None:
    text = "GET /api/v1/products?kind=device&limit=20 took 12 ms; 3 tokens; monkey=1"
    assert redact_text(text) == text


def test_cli_hides_rendering_and_migration_chatter_but_not_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cerflow demo` printed 3,022 WeasyPrint/Alembic lines once the CLI configured
    logging (a layout step per page, a warning per SVG attribute)."""
    from cerflow.config import Settings
    from cerflow.observability.logging import configure_logging

    configure_logging(Settings(), process="cli")
    capsys.readouterr()
    logging.getLogger("weasyprint.progress").info("Step 5 - Creating layout - Page 3")
    logging.getLogger("weasyprint").warning("Ignored `stroke: #000` at 1:1, unknown property.")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
    logging.getLogger("weasyprint").error("font file unreadable")
    err = capsys.readouterr().err
    assert "Creating layout" not in err
    assert "unknown property" not in err
    assert "Running upgrade" not in err
    assert "font file unreadable" in err
