"""Settings validation: production refuses secrets an attacker could guess or forge tokens with."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from cerflow.config import PLACEHOLDER_SECRETS, Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
_SECRET_ASSIGNMENT = re.compile(r"CERFLOW_SECRET_KEY\s*[=:]\s*[\"']?([^\s\"'#]+)")


def _shipped_secret_values() -> set[str]:
    """Every literal value given to CERFLOW_SECRET_KEY in any file under deploy/."""
    found: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for match in _SECRET_ASSIGNMENT.finditer(text):
            value = match.group(1)
            if value.startswith("$"):  # a shell substitution / compose variable, not a literal
                continue
            found.add(value)
    return found


def _production(secret: str) -> Settings:
    return Settings(environment="production", secret_key=secret, _env_file=None)  # type: ignore[call-arg, arg-type]


def test_deploy_folder_ships_placeholders() -> None:
    # Guards the scan itself: if the regex stopped matching, the next test would pass vacuously.
    assert {"change-me-secret-key", "change-me-to-a-long-random-value"} <= _shipped_secret_values()


def test_every_placeholder_shipped_in_deploy_is_listed_in_code() -> None:
    assert _shipped_secret_values() <= PLACEHOLDER_SECRETS


@pytest.mark.parametrize("value", sorted(PLACEHOLDER_SECRETS | {"change-me-secret-key"}))
def test_production_refuses_placeholders(value: str) -> None:
    with pytest.raises(ValidationError, match="CERFLOW_SECRET_KEY") as info:
        _production(value)
    assert value not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x",
        "k" * 48,  # long but one distinct character
        "abcabcabcabcabcabcabcabcabcabcabcabc",  # 3 distinct characters
        "Zq3v-Rk9_TpL2xWm7NcY4bHd8FjS1uA",  # varied but 31 characters: too short
    ],
    ids=["empty", "one-char", "one-distinct", "three-distinct", "31-chars"],
)
def test_production_refuses_short_or_low_entropy_secrets(value: str) -> None:
    with pytest.raises(ValidationError, match="CERFLOW_SECRET_KEY") as info:
        _production(value)
    message = str(info.value)
    assert "secrets.token_urlsafe(48)" in message
    if value:
        assert value not in message


def test_production_accepts_a_generated_secret() -> None:
    settings = _production(secrets.token_urlsafe(48))
    assert settings.environment.value == "production"


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_development_and_testing_keep_convenient_secrets(environment: str) -> None:
    settings = Settings(environment=environment, secret_key="x", _env_file=None)  # type: ignore[call-arg, arg-type]
    assert settings.secret_key.get_secret_value() == "x"


def test_secrets_can_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CERFLOW_<NAME>_FILE (Docker/Kubernetes secrets mounted as files) sets <NAME>."""
    key = tmp_path / "secret_key"
    key.write_text("k" * 20 + "-from-a-file-" + "z" * 20 + "\n", encoding="utf-8")
    url = tmp_path / "redis_url"
    url.write_text("redis://:pw-from-file@redis:6379/0", encoding="utf-8")
    monkeypatch.setenv("CERFLOW_SECRET_KEY_FILE", str(key))
    monkeypatch.setenv("CERFLOW_REDIS_URL_FILE", str(url))
    monkeypatch.delenv("CERFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("CERFLOW_REDIS_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == "k" * 20 + "-from-a-file-" + "z" * 20
    assert settings.redis_url == "redis://:pw-from-file@redis:6379/0"
    monkeypatch.setenv("CERFLOW_REDIS_URL", "redis://direct:6379/0")  # the variable wins
    assert Settings(_env_file=None).redis_url == "redis://direct:6379/0"  # type: ignore[call-arg]
    monkeypatch.setenv("CERFLOW_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"CERFLOW_SECRET_KEY_FILE=.*cannot be read"):
        Settings(_env_file=None)  # type: ignore[call-arg]
