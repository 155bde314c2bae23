"""The verified-access-token memo: same answers as a fresh verification, expiry re-checked."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cerflow.auth import security

SECRET = "s" * 48


def _token() -> str:
    token, _ = security.encode_token(
        secret=SECRET, issuer="cerflow", sub="7", typ="access", ttl_seconds=600, role="viewer"
    )
    return token


def test_second_decode_is_served_from_the_memo_and_matches() -> None:
    token = _token()
    first = security.decode_token(token, secret=SECRET, issuer="cerflow", typ="access")
    assert security._verified[(token, SECRET, "cerflow")] == first
    again = security.decode_token(token, secret=SECRET, issuer="cerflow", typ="access")
    assert (again.sub, again.role, again.jti) == ("7", "viewer", first.jti)


def test_memo_does_not_bypass_secret_issuer_type_or_expiry() -> None:
    token = _token()
    security.decode_token(token, secret=SECRET, issuer="cerflow", typ="access")
    with pytest.raises(security.InvalidToken):
        security.decode_token(token, secret="t" * 48, issuer="cerflow", typ="access")
    with pytest.raises(security.InvalidToken):
        security.decode_token(token, secret=SECRET, issuer="other", typ="access")
    with pytest.raises(security.InvalidToken):
        security.decode_token(token, secret=SECRET, issuer="cerflow", typ="refresh")
    key = (token, SECRET, "cerflow")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    security._verified[key] = dataclasses.replace(security._verified[key], exp=past)
    with pytest.raises(security.InvalidToken, match="Expired"):
        security.decode_token(token, secret=SECRET, issuer="cerflow", typ="access")
    assert key not in security._verified
