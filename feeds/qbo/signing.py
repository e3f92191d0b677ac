"""Signatures of the QBO wire protocol (`product.md` §6), both directions.

    X-Partner-Key: <partner key>
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>

The raw bytes are signed and checked, never re-serialised JSON. A request older (or newer) than
five minutes is refused; within the window a signature is accepted once (see `ReplayGuard`)."""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    pass


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(partner_key: str, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that sign `body`."""
    timestamp = int(now if now is not None else time.time())
    return {
        "X-Partner-Key": partner_key,
        "X-Signature": f"t={timestamp},v1={signature(secret, timestamp, body)}",
    }


def parse(header: str) -> tuple[int, list[str]]:
    timestamp, values = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            values.append(value)
    if timestamp is None or not values:
        raise SignatureError("malformed X-Signature header")
    return timestamp, values


def verify(
    headers: dict[str, str] | object,
    body: bytes,
    *,
    partner_key: str,
    secret: str,
    now: float | None = None,
) -> str:
    """Check a request's headers; return the matching signature, or raise SignatureError."""
    if not partner_key or not secret:
        raise SignatureError("the QBO partner key and signing secret are not configured")
    sent_key = headers.get("X-Partner-Key", "")  # type: ignore[attr-defined]
    if not hmac.compare_digest(sent_key.encode(), partner_key.encode()):
        raise SignatureError("wrong partner key")
    timestamp, values = parse(headers.get("X-Signature", ""))  # type: ignore[attr-defined]
    now = now if now is not None else time.time()
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the 5-minute window")
    expected = signature(secret, timestamp, body)
    for value in values:
        if hmac.compare_digest(value.encode(), expected.encode()):
            return expected
    raise SignatureError("bad signature")
