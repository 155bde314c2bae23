"""Password hashes and tokens: what is accepted and what is refused."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from cerflow.auth import security

SECRET = "s" * 48


def test_password_hash_is_argon2_and_verifies() -> None:
    h = security.hash_password("correct horse battery staple")
    assert h.startswith("$argon2id$")
    assert "correct horse" not in h
    assert security.verify_password("correct horse battery staple", h)
    assert not security.verify_password("correct horse battery stapl", h)
    assert not security.verify_password("anything", None)
    assert not security.verify_password("anything", "not-a-hash")


def _token(**kw: object) -> str:
    token, _ = security.encode_token(
        secret=SECRET, issuer="cerflow", sub="7", typ="access", ttl_seconds=60, role="viewer", **kw
    )
    return token


def test_access_token_roundtrip() -> None:
    claims = security.decode_token(_token(), secret=SECRET, issuer="cerflow", typ="access")
    assert (claims.sub, claims.role, claims.typ) == ("7", "viewer", "access")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="bad-sig"),
        pytest.param(
            lambda t: jwt.encode(
                jwt.decode(t, options={"verify_signature": False}), None, algorithm="none"
            ),
            id="alg-none",
        ),
        pytest.param(
            lambda t: jwt.encode(
                jwt.decode(t, options={"verify_signature": False}), SECRET, algorithm="HS512"
            ),
            id="other-alg",
        ),
        pytest.param(
            lambda t: jwt.encode(
                {**jwt.decode(t, options={"verify_signature": False}), "iss": "evil"},
                SECRET,
                algorithm="HS256",
            ),
            id="wrong-issuer",
        ),
    ],
)
def test_forged_tokens_are_refused(mutate: object) -> None:
    forged = mutate(_token())  # type: ignore[operator]
    with pytest.raises(security.InvalidToken):
        security.decode_token(forged, secret=SECRET, issuer="cerflow", typ="access")


def test_expired_and_wrong_type_are_refused() -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with pytest.raises(security.InvalidToken):
        security.decode_token(_token(now=old), secret=SECRET, issuer="cerflow", typ="access")
    refresh, _ = security.encode_token(
        secret=SECRET, issuer="cerflow", sub="7", typ="refresh", ttl_seconds=60, family="f"
    )
    with pytest.raises(security.InvalidToken, match="wrong token type"):
        security.decode_token(refresh, secret=SECRET, issuer="cerflow", typ="access")


def test_missing_claims_are_refused() -> None:
    bare = jwt.encode({"sub": "1", "typ": "access"}, SECRET, algorithm="HS256")
    with pytest.raises(security.InvalidToken):
        security.decode_token(bare, secret=SECRET, issuer="cerflow", typ="access")


def test_api_key_material() -> None:
    key, prefix, digest = security.new_api_key()
    assert key.startswith("cfk_" + prefix + "_")
    assert security.parse_api_key(key) == prefix
    assert digest != key and len(digest) == 64
    assert security.digest_matches(key, digest)
    assert not security.digest_matches(key + "x", digest)
    assert security.parse_api_key("cfk_short_x") is None
    assert security.parse_api_key("nope") is None
