"""Signatures of the QBO wire protocol (`product.md` §6), the sandbox's own copy: it shares no
code with linksite, only the protocol.

    X-Partner-Key: <partner key>
    X-Request-Id: <1-128 printable ASCII characters, unique per request>
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
                 "<t>.<METHOD>.<path>.<request id>.<raw body>" with the secret>

`<path>` is the URL path as sent, without the query string; `<METHOD>` upper case; the raw body
bytes are signed (b"" for a GET). Timestamps more than 300 s away are refused, and so is a
request id already accepted within the window (`SeenRequest`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from qbo_sandbox.models import SeenRequest, sandbox_atomic

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    pass


def _secret() -> tuple[str, str]:
    # Read at call time: tests override the settings.
    return settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET


def compute(
    secret: str, timestamp: int, method: str, path: str, request_id: str, body: bytes
) -> str:
    head = f"{timestamp}.{method.upper()}.{path}.{request_id}.".encode("utf-8", "surrogateescape")
    return hmac.new(secret.encode(), head + body, hashlib.sha256).hexdigest()


def sign(
    method: str, path: str, body: bytes, now: float | None = None, request_id: str | None = None
) -> dict[str, str]:
    """The headers that sign a request (`path` as it goes on the wire, no query string) with
    the configured partner key and secret, under a new request id."""
    partner_key, secret = _secret()
    timestamp = int(time.time() if now is None else now)
    request_id = uuid.uuid4().hex if request_id is None else request_id
    mac = compute(secret, timestamp, method, path, request_id, body)
    return {
        "X-Partner-Key": partner_key,
        "X-Request-Id": request_id,
        "X-Signature": f"t={timestamp},v1={mac}",
    }


def _valid_request_id(value: str | None) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128 and all(" " <= c <= "~" for c in value)


def paths_of(path: str, raw_uri: str | None = None) -> list[str]:
    """The forms a received path may have been signed in: as sent (the raw request URI, if the
    server keeps it), as decoded by WSGI, and decoded then percent-encoded again."""
    found = []
    if raw_uri and raw_uri.startswith("/"):
        found.append(raw_uri.split("?", 1)[0])
    found += [path, quote(path, safe="/:@!$&'()*+,;=")]
    return list(dict.fromkeys(found))


def verify(
    headers: Mapping[str, str],
    method: str,
    paths: str | Iterable[str],
    body: bytes,
    now: float | None = None,
) -> str:
    """Return the request id, or raise SignatureError unless `headers` sign the request with the
    configured key and secret. Does not record the request id: see `accept_once`."""
    partner_key, secret = _secret()
    if not partner_key or not secret:
        raise SignatureError("the partner key and signing secret are not configured")
    sent_key = headers.get("X-Partner-Key") or ""
    if not hmac.compare_digest(sent_key.encode("utf-8", "surrogateescape"), partner_key.encode()):
        raise SignatureError("wrong partner key")
    request_id = headers.get("X-Request-Id")
    if not _valid_request_id(request_id):
        raise SignatureError("X-Request-Id must be 1 to 128 printable ASCII characters")
    timestamp, candidates = None, []
    for part in (headers.get("X-Signature") or "").split(","):
        name, _sep, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value.encode("utf-8", "surrogateescape"))
    if timestamp is None or not candidates:
        raise SignatureError("malformed X-Signature header")
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the 5-minute window")
    for path in [paths] if isinstance(paths, str) else paths:
        expected = compute(secret, timestamp, method, path, request_id, body).encode()
        if any(hmac.compare_digest(value, expected) for value in candidates):
            return request_id
    raise SignatureError("bad signature")


def accept_once(request_id: str) -> None:
    """Record a verified request id; SignatureError if it was accepted within the window. Ids
    older than twice the window (they can no longer be replayed) are forgotten on the way."""
    partner_key, _secret_value = _secret()
    key = hashlib.sha256(f"{partner_key}\n{request_id}".encode()).hexdigest()
    now = timezone.now()
    SeenRequest.objects.filter(seen__lt=now - dt.timedelta(seconds=2 * TOLERANCE_SECONDS)).delete()
    try:
        with sandbox_atomic():
            SeenRequest.objects.create(request_key=key, seen=now)
    except IntegrityError:
        raise SignatureError("this request id was already used") from None
