"""Delivering written transactions to QBO (`product.md` §6, §10), exactly once.

A feed is pushed by one process at a time (an optimistic lease on the feed row, which works on
SQLite and PostgreSQL alike). Its pending transactions go out in `clearedOnDate`, then write,
order, in batches of at most 1000. A batch is recorded with its transactions before it is sent,
so a crash leaves it open and the next run re-sends it with the same `batchId`, which QBO drops
as a duplicate. Transactions are marked delivered only after QBO's 200.

Answers: 200 delivered; 410 the feed was disconnected in QBO (recorded as `feedDisabledOnUtc`);
429 wait `Retry-After`; other 4xx the batch is rejected (shown in admin, not retried as is, and
the feed waits: delivering later transactions first would break the order); 5xx, timeouts and
connection errors are retried with exponential backoff and jitter, then left for the next run.

Work in progress (issue 6): the daily fan-out, the admin actions and the command come next."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import lifecycle, linking
from feeds.models import (
    BankTransaction,
    DeliveryBatch,
    DeliveryState,
    DeliveryStatus,
    Feed,
)
from feeds.qbo.client import QboClient
from feeds.qbo.client import client as default_client

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
LEASE = dt.timedelta(minutes=10)
ATTEMPTS_PER_RUN = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
LONGEST_RETRY_AFTER = 60.0
WORKER = Actor.worker()


@dataclass
class PushResult:
    feed_id: str
    outcome: str  # done, busy, inactive, failed, rejected, disconnected, blocked
    delivered: int = 0
    batches: int = 0
    error: str = ""


def take_lease(feed_id: str, owner: str, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    taken = Feed.objects.filter(
        Q(push_lease_until__isnull=True) | Q(push_lease_until__lt=now),
        pk=feed_id,
    ).update(push_lease_owner=owner, push_lease_until=now + LEASE)
    return taken == 1


def renew_lease(feed_id: str, owner: str) -> None:
    Feed.objects.filter(pk=feed_id, push_lease_owner=owner).update(
        push_lease_until=timezone.now() + LEASE
    )


def release_lease(feed_id: str, owner: str) -> None:
    Feed.objects.filter(pk=feed_id, push_lease_owner=owner).update(
        push_lease_owner="", push_lease_until=None
    )


def next_batch(feed: Feed, trigger: str, size: int = BATCH_SIZE) -> DeliveryBatch | None:
    """The feed's open batch (to re-send as it is), or a new one of its oldest pending
    transactions, recorded with them before anything is sent."""
    open_batch = DeliveryBatch.objects.filter(
        feed=feed, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).first()
    if open_batch is not None:
        if open_batch.status == DeliveryStatus.FAILED:
            lifecycle.transition(
                open_batch, DeliveryStatus.PENDING, actor=WORKER, reason="next delivery run"
            )
        return open_batch
    with transaction.atomic():
        ids = list(
            BankTransaction.objects.filter(
                source_account_id=feed.source_account_id,
                delivery_state=DeliveryState.PENDING,
                delivery_batch__isnull=True,
            )
            .order_by("cleared_on_date", "id")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return None
        batch = DeliveryBatch.objects.create(feed=feed, trigger=trigger, transaction_count=len(ids))
        BankTransaction.objects.filter(pk__in=ids).update(delivery_batch=batch)
        record(WORKER, "delivery.batch_recorded", batch, transactions=len(ids), trigger=trigger)
    return batch


def payload(batch: DeliveryBatch) -> dict[str, Any]:
    currency = batch.feed.source_account.currency
    rows = BankTransaction.objects.filter(delivery_batch=batch).order_by("cleared_on_date", "id")
    return {
        "batchId": str(batch.batch_id),
        "transactions": [
            {
                "id": row.transaction_id,
                "date": (row.date or row.cleared_on_date).isoformat(),
                "clearedOnDate": row.cleared_on_date.isoformat(),
                "amount": str(row.amount),
                "currency": currency,
                "description": row.description,
                "transactionType": row.transaction_type,
                "balance": None if row.balance is None else str(row.balance),
            }
            for row in rows
        ],
    }


def _backoff(attempt: int) -> float:
    """Exponential with full jitter, capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


def _delivered(batch: DeliveryBatch) -> int:
    now = timezone.now()
    with transaction.atomic():
        count = BankTransaction.objects.filter(
            delivery_batch=batch, delivery_state=DeliveryState.PENDING
        ).update(delivery_state=DeliveryState.DELIVERED, delivered=now)
        lifecycle.transition(
            batch,
            DeliveryStatus.DELIVERED,
            actor=WORKER,
            updates={"delivered": now, "last_error": ""},
        )
    return count


def send(
    batch: DeliveryBatch,
    qbo: QboClient,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, int, str]:
    """Send one batch until QBO answers for good or the attempts run out:
    (outcome, delivered count, last error)."""
    body = payload(batch)
    feed = batch.feed
    error = ""
    for attempt in range(1, ATTEMPTS_PER_RUN + 1):
        DeliveryBatch.objects.filter(pk=batch.pk).update(
            attempts=F("attempts") + 1, last_attempt=timezone.now()
        )
        wait = _backoff(attempt)
        try:
            response = qbo.push(feed.pk, body)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            status = response.status_code
            if status == 200:
                return "done", _delivered(batch), ""
            if status == 410:
                linking.disable_feed(feed, actor=WORKER)
                error = "410: the feed was disconnected in QuickBooks"
                _give_up(batch, error)
                return "disconnected", 0, error
            text = response.text[:300]
            error = f"{status}: {text}"
            if status == 429:
                try:
                    wait = float(response.headers.get("Retry-After", "60"))
                except ValueError:
                    wait = 60.0
                if wait > LONGEST_RETRY_AFTER:
                    break
            elif 400 <= status < 500:
                lifecycle.transition(
                    batch,
                    DeliveryStatus.REJECTED,
                    actor=WORKER,
                    updates={"last_error": error},
                    http_status=status,
                )
                return "rejected", 0, error
        log.info("batch %s attempt %s: %s; next in %.1fs", batch.batch_id, attempt, error, wait)
        if attempt < ATTEMPTS_PER_RUN:
            sleep(wait)
    _give_up(batch, error)
    return "failed", 0, error


def _give_up(batch: DeliveryBatch, error: str) -> None:
    """Retries exhausted for this run: the batch stays recorded and goes out again next time."""
    lifecycle.transition(
        batch,
        DeliveryStatus.FAILED,
        actor=WORKER,
        updates={"last_error": error, "next_attempt": timezone.now() + dt.timedelta(minutes=15)},
    )


def push_feed(
    feed_id: str,
    trigger: str = "schedule",
    *,
    qbo: QboClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
    batch_size: int = BATCH_SIZE,
) -> PushResult:
    """Deliver everything pending for one feed, batch after batch."""
    owner = uuid.uuid4().hex
    feed = Feed.objects.select_related("source_account").filter(pk=feed_id).first()
    if feed is None or not feed.is_active:
        return PushResult(feed_id, "inactive")
    if feed.delivery_batches.filter(status=DeliveryStatus.REJECTED).exists():
        return PushResult(feed_id, "blocked", error="a batch was rejected by QBO; see admin")
    if not take_lease(feed_id, owner):
        return PushResult(feed_id, "busy")
    result = PushResult(feed_id, "done")
    try:
        qbo = qbo or default_client()
        while True:
            batch = next_batch(feed, trigger, batch_size)
            if batch is None:
                break
            outcome, delivered, error = send(batch, qbo, sleep)
            result.batches += 1
            result.delivered += delivered
            if outcome != "done":
                result.outcome, result.error = outcome, error
                break
            renew_lease(feed_id, owner)
    finally:
        release_lease(feed_id, owner)
    record(
        WORKER,
        "delivery.feed_pushed",
        feed,
        trigger=trigger,
        outcome=result.outcome,
        delivered=result.delivered,
        batches=result.batches,
    )
    return result


def feeds_to_push() -> list[str]:
    """Active feeds with something to deliver: pending transactions or an open batch."""
    pending = BankTransaction.objects.filter(
        source_account_id=OuterRef("source_account_id"), delivery_state=DeliveryState.PENDING
    )
    return list(
        Feed.objects.filter(disabled_on_utc__isnull=True, ended__isnull=True)
        .filter(Exists(pending))
        .exclude(delivery_batches__status=DeliveryStatus.REJECTED)
        .order_by("created")
        .values_list("pk", flat=True)
    )


def queue_push(feed_id: str, trigger: str) -> str:
    """Queue one feed's push for the worker; the fan-out keeps a slow feed from holding up the
    others."""
    from django_q.tasks import async_task

    return async_task("feeds.tasks.push_feed", feed_id, trigger, task_name=f"push {feed_id}")


def queue_daily_push() -> int:
    feeds = feeds_to_push()
    for feed_id in feeds:
        queue_push(feed_id, "schedule")
    record(WORKER, "delivery.daily_push_queued", None, feeds=len(feeds))
    return len(feeds)
