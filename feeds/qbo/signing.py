"""Signatures of the QBO wire protocol (`product.md` §6), both directions.

    X-Partner-Key: <partner key>
    X-Request-Id: <1-128 printable ASCII characters, unique per request>
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
                 "<t>.<METHOD>.<path>.<request id>.<raw body>" with the secret>

`<path>` is the URL path as sent, without the query string; `<METHOD>` is upper case. The raw
bytes are signed and checked, never re-serialised JSON. A request older (or newer) than five
minutes is refused; within the window a request id is accepted once (see `ReplayGuard`)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable
from urllib.parse import quote

TOLERANCE_SECONDS = 300
MAX_REQUEST_ID = 128

# What `quote` leaves alone in a path besides letters, digits and "_.-~": RFC 3986's pchar.
_PATH_SAFE = "/:@!$&'()*+,;="


class SignatureError(Exception):
    pass


def new_request_id() -> str:
    return str(uuid.uuid4())


def valid_request_id(value: str | None) -> bool:
    """1 to 128 printable ASCII characters (space to tilde)."""
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_REQUEST_ID
        and all(" " <= c <= "~" for c in value)
    )


def message(timestamp: int, method: str, path: str, request_id: str, body: bytes) -> bytes:
    """The signed string: "<t>.<METHOD>.<path>.<request id>.<raw body>"."""
    head = f"{timestamp}.{method.upper()}.{path}.{request_id}."
    # A path can only carry ASCII on the wire; anything else is sent percent-encoded.
    return head.encode("utf-8", "surrogateescape") + body


def signature(
    secret: str, timestamp: int, method: str, path: str, request_id: str, body: bytes
) -> str:
    return hmac.new(
        secret.encode(), message(timestamp, method, path, request_id, body), hashlib.sha256
    ).hexdigest()


def sign(
    partner_key: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    *,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The headers that sign a request: `path` as it goes on the wire, no query string."""
    timestamp = int(now if now is not None else time.time())
    request_id = new_request_id() if request_id is None else request_id
    value = signature(secret, timestamp, method, path, request_id, body)
    return {
        "X-Partner-Key": partner_key,
        "X-Request-Id": request_id,
        "X-Signature": f"t={timestamp},v1={value}",
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


def received_paths(path: str, raw_uri: str | None = None) -> list[str]:
    """The forms a received request's path may have been signed in: as sent (the server's raw
    request URI, when it keeps one), and, since WSGI hands over the path decoded, decoded and
    percent-encoded again. They all name the same resource."""
    paths = []
    if raw_uri:
        raw = raw_uri.split("?", 1)[0].split("#", 1)[0]
        if raw.startswith("/"):
            paths.append(raw)
    paths += [path, quote(path, safe=_PATH_SAFE)]
    return list(dict.fromkeys(paths))


def verify(
    headers: dict[str, str] | object,
    method: str,
    paths: str | Iterable[str],
    body: bytes,
    *,
    partner_key: str,
    secret: str,
    now: float | None = None,
) -> str:
    """Check a request's headers; return its request id, or raise SignatureError. `paths`: the
    request's path, or the forms it may have been signed in (`received_paths`)."""
    if not partner_key or not secret:
        raise SignatureError("the QBO partner key and signing secret are not configured")
    sent_key = headers.get("X-Partner-Key", "")  # type: ignore[attr-defined]
    if not hmac.compare_digest(
        sent_key.encode("utf-8", "surrogateescape"), partner_key.encode("utf-8")
    ):
        raise SignatureError("wrong partner key")
    request_id = headers.get("X-Request-Id")  # type: ignore[attr-defined]
    if request_id is None:
        raise SignatureError("no X-Request-Id header")
    if not valid_request_id(request_id):
        raise SignatureError("X-Request-Id must be 1 to 128 printable ASCII characters")
    timestamp, values = parse(headers.get("X-Signature", ""))  # type: ignore[attr-defined]
    now = now if now is not None else time.time()
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the 5-minute window")
    for path in [paths] if isinstance(paths, str) else paths:
        expected = signature(secret, timestamp, method, path, request_id, body).encode()
        for value in values:
            if hmac.compare_digest(value.encode("utf-8", "surrogateescape"), expected):
                return request_id
    raise SignatureError("bad signature")


def replay_key(partner_key: str, request_id: str) -> str:
    """What `ReplayGuard` stores of an accepted request: a hash of partner key and request id."""
    return hashlib.sha256(f"{partner_key}\n{request_id}".encode()).hexdigest()
