"""HMAC-SHA256 signatures over `timestamp + "." + body` (the Stripe/Standard Webhooks idea).

The receiver recomputes the signature with its secret and rejects old timestamps, so a
captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Cerflow-Timestamp"
SIGNATURE_HEADER = "X-Cerflow-Signature"
EVENT_HEADER = "X-Cerflow-Event"
DELIVERY_HEADER = "X-Cerflow-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, *, tolerance: int = 300
) -> bool:
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
