"""One line of text per kind of secret the logs must never carry, and the secret in it.

Shared by the processor's unit test, the API test and the worker test, so the three
check the same kinds.
"""

from __future__ import annotations

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnLXNlY3JldC1qd3QtdmFsdWU"
CFK = "cfk_AbCdEf0123456789secretkey"

# (kind, text as it would be logged, the secret that must not survive)
CASES: list[tuple[str, str, str]] = [
    ("bearer", "Authorization header was Bearer opaque-tok-9f8e7d6c5b", "opaque-tok-9f8e7d6c5b"),
    ("jwt", f"token refused: {JWT}", JWT),
    ("cfk key", f"api key {CFK} was revoked", CFK),
    (
        "api_key=",
        "GET https://api.fda.gov/drug/event.json?search=x&api_key=OFDAkey1234567",
        "OFDAkey1234567",
    ),
    ("apikey=", "GET https://h.example/x?apikey=apk-5566778899&limit=1", "apk-5566778899"),
    ("key=", "GET https://h.example/x?key=plainkey-13579&q=1", "plainkey-13579"),
    ("token=", "callback https://h.example/cb?token=tokval-24680", "tokval-24680"),
    ("access_token=", "redirect to /done#access_token=acctok-112233&x=1", "acctok-112233"),
    ("password=", "login form password=hunter2-pass-word", "hunter2-pass-word"),
    ("secret=", "hook https://h.example/hook?secret=whsec-445566", "whsec-445566"),
    (
        "https user:pw",
        "fetch https://alice:https-pw-778899@files.example.org/a.zip",
        "https-pw-778899",
    ),
    ("redis :pw", "broker redis://:redis-pw-998877@cache.internal:6379/0 down", "redis-pw-998877"),
    ("postgresql u:pw", "db postgresql://cer:pg-pw-665544@db.internal:5432/cer", "pg-pw-665544"),
    (
        "authorization header",
        "headers: Authorization: Basic YWxpY2U6c2VjcmV0cHc=",
        "YWxpY2U6c2VjcmV0cHc=",
    ),
    ("cookie header", "headers: Cookie: session=cookie-val-314159", "cookie-val-314159"),
    (
        "set-cookie header",
        "Set-Cookie: refresh=setcookie-val-271828; HttpOnly",
        "setcookie-val-271828",
    ),
    ("e-mail", "password reset sent to jane.doe@example.org", "jane.doe@example.org"),
]
