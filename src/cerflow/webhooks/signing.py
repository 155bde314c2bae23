"""Webhook signatures after the Standard Webhooks specification (standardwebhooks.com).

Headers `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, keyed with the base64 bytes of a `whsec_<base64>` secret, so a
receiver verifies with a stock library (`standardwebhooks`, svix) instead of our code. The
receiver rejects old timestamps, so a captured delivery cannot be replayed later.

The older `X-Cerflow-Signature: sha256=<hex HMAC of "{timestamp}.{body}">` with the secret's
text as key is still sent, so receivers written against it keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

ID_HEADER = "webhook-id"
STD_TIMESTAMP_HEADER = "webhook-timestamp"
STD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"

TIMESTAMP_HEADER = "X-Cerflow-Timestamp"
SIGNATURE_HEADER = "X-Cerflow-Signature"
EVENT_HEADER = "X-Cerflow-Event"
DELIVERY_HEADER = "X-Cerflow-Delivery"


def new_secret() -> str:
    """`whsec_` + standard base64 of 32 random bytes (the form stock libraries decode)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks library derives from `secret`.

    Secrets made before this scheme were URL-safe base64; they are decoded as such so
    cerflow's own signature stays stable, but stock libraries read them differently:
    rotate such a webhook (delete and create) to verify with a library.
    """
    body = secret.removeprefix(SECRET_PREFIX)
    padded = body + "=" * (-len(body) % 4)
    try:
        if "-" in body or "_" in body:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def standard_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        ID_HEADER: msg_id,
        STD_TIMESTAMP_HEADER: str(timestamp),
        STD_SIGNATURE_HEADER: standard_signature(secret, msg_id, timestamp, body),
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The legacy `X-Cerflow-Signature` value."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, *, tolerance: int = 300
) -> bool:
    """Check a legacy signature (receivers should prefer a Standard Webhooks library)."""
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
