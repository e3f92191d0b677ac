"""Signing per Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">` with each secret in force (several, space-separated, while a rotated-out
secret still signs), and the same three headers under the `svix-` names.

A secret is `whsec_` + base64 of 32 bytes derived from a random seed (the stored part) and the
deployment's WEBHOOK_SECRET_KEY (SECRET_KEY unless set): the database alone does not give the
secrets away."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random_secrets
from collections.abc import Iterable

from django.conf import settings

PREFIX = "whsec_"


def new_seed() -> str:
    return random_secrets.token_hex(32)


def secret_bytes(seed: str) -> bytes:
    key = (settings.WEBHOOK_SECRET_KEY or settings.SECRET_KEY).encode()
    return hmac.new(key, b"linksite webhook secret:" + seed.encode(), hashlib.sha256).digest()


def secret_text(seed: str) -> str:
    """The secret as its owner configures a verifier with it."""
    return PREFIX + base64.b64encode(secret_bytes(seed)).decode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(message_id: str, timestamp: int, body: bytes, seeds: Iterable[str]) -> dict[str, str]:
    """The signature headers of one attempt, under both names."""
    signatures = " ".join(
        signature(secret_bytes(seed), message_id, timestamp, body) for seed in seeds
    )
    values = {"id": message_id, "timestamp": str(timestamp), "signature": signatures}
    return {
        **{f"webhook-{name}": value for name, value in values.items()},
        **{f"svix-{name}": value for name, value in values.items()},
    }
