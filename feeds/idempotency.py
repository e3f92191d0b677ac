"""Transaction writes under an `Idempotency-Key` (`product.md` §8), per API client, kept 24 hours.

`write_once` runs a write (`writes.write_transactions`) at most once per key: it claims the key
(`begin`), writes and completes the key in the same database transaction (`complete`), or
releases the key if the write raised (`release`). The same key with the same body replays the
first push operation; with another body it is refused (`KeyReused`); while the first request
still runs, a retry is told to wait (`KeyInFlight`). A lease lets a retry take over a key whose
first request died mid-way."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import ApiClient
from feeds import numbers, writes
from feeds.models import IdempotencyKey, PushOperation, SourceAccount

MAX_KEY_LENGTH = 128
RETENTION = dt.timedelta(hours=24)
LEASE = dt.timedelta(seconds=60)
RETRY_AFTER_SECONDS = 2


class KeyRefused(Exception):
    """The key cannot be used for this request; nothing was written."""


class InvalidKey(KeyRefused):
    pass


class KeyReused(KeyRefused):
    pass


class KeyInFlight(KeyRefused):
    pass


@dataclass
class Claim:
    outcome: str  # "new", "replay", "mismatch" or "in_flight"
    record: IdempotencyKey | None = None
    push_operation: PushOperation | None = None


def _canonical(value: Any) -> Any:
    """Numbers compare by value (`-1` and `-1.00` are one), whatever their exponent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal | int):
        return (
            numbers.canonical(value)
            if not isinstance(value, Decimal) or value.is_finite()
            else str(value)
        )
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def fingerprint(path: str, body: Any) -> str:
    """The same request gives the same fingerprint whatever the key order or spacing."""
    text = json.dumps([path, _canonical(body)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def begin(client: ApiClient, key: str, request_hash: str) -> Claim:
    now = timezone.now()
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                client=client,
                key=key,
                request_hash=request_hash,
                created=now,
                lease_expires=now + LEASE,
            )
        return Claim("new", record)
    except IntegrityError:
        pass
    record = (
        IdempotencyKey.objects.select_related("push_operation")
        .filter(client=client, key=key)
        .first()
    )
    if record is None:  # removed meanwhile: try once more
        return begin(client, key, request_hash)
    if record.created <= now - RETENTION:
        # Older than 24 hours: the key counts as new. Optimistic, so two retries cannot both win.
        taken = IdempotencyKey.objects.filter(pk=record.pk, created=record.created).update(
            request_hash=request_hash,
            created=now,
            lease_expires=now + LEASE,
            completed=None,
            push_operation=None,
        )
        if taken:
            record.refresh_from_db()
            return Claim("new", record)
        return Claim("in_flight", record)
    if record.request_hash != request_hash:
        return Claim("mismatch", record)
    if record.completed is not None:
        return Claim("replay", record, record.push_operation)
    if record.lease_expires is not None and record.lease_expires <= now:
        taken = IdempotencyKey.objects.filter(
            pk=record.pk, completed__isnull=True, lease_expires=record.lease_expires
        ).update(lease_expires=now + LEASE)
        if taken:
            return Claim("new", record)
    return Claim("in_flight", record)


def complete(record: IdempotencyKey, operation: PushOperation) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        completed=timezone.now(), lease_expires=None, push_operation=operation
    )


def release(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, completed__isnull=True).delete()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise InvalidKey(
            f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID "
            "is a good choice)."
        )


def write_once(
    account: SourceAccount,
    body: Any,
    *,
    path_account_id: str,
    actor: Actor,
    client: ApiClient,
    key: str | None,
    request_path: str,
) -> tuple[PushOperation, bool]:
    """`writes.write_transactions` unless this key already ran it: (the push operation, whether
    it is the first request's, replayed). Without a key, just the write. Raises `KeyRefused`."""
    claim = None
    if key is not None:
        check_key(key)
        claim = begin(client, key, fingerprint(request_path, body))
        if claim.outcome == "mismatch":
            raise KeyReused(
                "This Idempotency-Key was already used with a different request in the last "
                "24 hours; use a new key for a new request."
            )
        if claim.outcome == "in_flight":
            raise KeyInFlight(
                "A request with this Idempotency-Key is still being processed; retry shortly."
            )
        if claim.outcome == "replay" and claim.push_operation is not None:
            return claim.push_operation, True
    try:
        with transaction.atomic():
            operation = writes.write_transactions(
                account, body, path_account_id=path_account_id, actor=actor
            )
            if claim is not None and claim.record is not None:
                complete(claim.record, operation)
    except BaseException:
        if claim is not None and claim.record is not None:
            release(claim.record)
        raise
    return operation, False


def purge(now: dt.datetime | None = None) -> int:
    """Forget keys older than the retention period (daily maintenance)."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(created__lte=now - RETENTION).delete()
    return deleted
