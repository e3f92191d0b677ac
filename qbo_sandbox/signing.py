"""Signatures of the QBO wire protocol (`product.md` §6), the sandbox's own copy: it shares no
code with linksite, only the protocol.

    X-Partner-Key: <partner key>
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>

The raw body bytes are signed (b"" for a GET). Timestamps more than 300 s away are refused."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from django.conf import settings

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    pass


def _secret() -> tuple[str, str]:
    # Read at call time: tests override the settings.
    return settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def sign(body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that sign `body` with the configured partner key and secret."""
    partner_key, secret = _secret()
    timestamp = int(time.time() if now is None else now)
    return {
        "X-Partner-Key": partner_key,
        "X-Signature": f"t={timestamp},v1={compute(secret, timestamp, body)}",
    }


def verify(headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Raise SignatureError unless `headers` sign `body` with the configured key and secret."""
    partner_key, secret = _secret()
    if not partner_key or not secret:
        raise SignatureError("the partner key and signing secret are not configured")
    sent_key = headers.get("X-Partner-Key") or ""
    if not hmac.compare_digest(sent_key.encode(), partner_key.encode()):
        raise SignatureError("wrong partner key")
    timestamp, candidates = None, []
    for part in (headers.get("X-Signature") or "").split(","):
        name, _sep, value = part.strip().partition("=")
        if (
            name == "t"
            and value.isascii()
            and value.isdigit()
            and len(value) <= 12
            and len(value) < 16
        ):
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed X-Signature header")
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the 5-minute window")
    expected = compute(secret, timestamp, body).encode()
    if not any(hmac.compare_digest(value.encode(), expected) for value in candidates):
        raise SignatureError("bad signature")
