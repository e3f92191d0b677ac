"""Leases: a row claimed by one worker until a time, with a conditional UPDATE (it applies only
if nobody else's lease is running), so that two workers never take the same row and a crashed
worker's claim runs out by itself. A feed being pushed (`feeds.delivery.claim`) and webhook
deliveries being sent (`feeds.webhooks.sending`) are claimed this way."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from django.db.models import Q, QuerySet


def new_owner() -> str:
    """A claimant's name, unique to this claim: host, process and a random part."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def free(prefix: str, now: dt.datetime) -> Q:
    """Rows whose lease (fields `<prefix>_owner`, `<prefix>_until`) is not running."""
    return Q(**{f"{prefix}_until__isnull": True}) | Q(**{f"{prefix}_until__lt": now})


def take(
    rows: QuerySet,
    *,
    prefix: str,
    owner: str,
    now: dt.datetime,
    length: dt.timedelta,
    force: bool = False,
) -> int:
    """Claim every row of `rows` whose lease is not running (all of them with `force`: the
    caller holds a lock that makes any lease left behind a crashed claimant's); how many."""
    if not force:
        rows = rows.filter(free(prefix, now))
    return rows.update(**{f"{prefix}_owner": owner, f"{prefix}_until": now + length})


def take_some(
    rows: QuerySet,
    limit: int,
    *,
    prefix: str,
    owner: str,
    now: dt.datetime,
    length: dt.timedelta,
    order: tuple[str, ...] = ("pk",),
) -> int:
    """Claim up to `limit` of `rows` whose lease is not running, first in `order`; how many
    (another claimant taking some of the same rows meanwhile only makes fewer)."""
    chosen = list(
        rows.filter(free(prefix, now)).order_by(*order).values_list("pk", flat=True)[:limit]
    )
    if not chosen:
        return 0
    model = rows.model
    return take(
        model._default_manager.filter(pk__in=chosen),
        prefix=prefix,
        owner=owner,
        now=now,
        length=length,
    )


def renew(rows: QuerySet, *, prefix: str, owner: str, until: dt.datetime) -> int:
    return rows.filter(**{f"{prefix}_owner": owner}).update(**{f"{prefix}_until": until})


def release(rows: QuerySet, *, prefix: str, owner: str) -> int:
    return rows.filter(**{f"{prefix}_owner": owner}).update(
        **{f"{prefix}_owner": "", f"{prefix}_until": None}
    )
