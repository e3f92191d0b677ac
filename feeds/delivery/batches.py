"""A feed's delivery batches: choosing the next one (an open batch to re-send as it is, or a new
one of the oldest pending transactions, recorded with them before anything is sent), reading
its transactions for QBO, and recording what became of it (each attempt; delivered, failed
for this run, rejected). Also what is left to deliver: per feed, the feeds to push, and the
feeds whose push was cut short (to resume)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import leases, lifecycle
from feeds.models import (
    STILL_PENDING,
    BankTransaction,
    DeliveryBatch,
    DeliveryState,
    DeliveryStatus,
    Feed,
    FeedDelivery,
)
from feeds.prepared import Prepared
from feeds.qbo import wire
from feeds.webhooks import outbox

BATCH_SIZE = 1000
WORKER = Actor.worker()
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)  # a batch still to send


# The reads of every push, compiled once per process (on PostgreSQL, prepared statements: a
# small feed's push spent more time planning its statements than running them).
SENTINEL = 987_654_321  # stands for an id in the reads below; no id or sequence is this one


def _places(pk: Any, after: Any = None) -> Any:
    """One round trip: the sequence of the feed's oldest open batch (after `after`'s sequence)
    and of its last batch, each found on its own index (an open batch is the rare case, a
    feed's history the long one)."""
    feeds_batches = DeliveryBatch.objects.filter(feed=OuterRef("pk"))
    open_batches = feeds_batches.filter(status__in=OPEN)
    if after is not None:
        open_batches = open_batches.filter(sequence__gt=after)
    return Feed.objects.filter(pk=pk).values_list(
        Subquery(open_batches.order_by("sequence").values("sequence")[:1]),
        Subquery(feeds_batches.order_by("-sequence").values("sequence")[:1]),
    )


FEED_ID = (Feed._meta.pk, "fd_prepared-read-sentinel")  # a feed id, for the reads of a push
PLACES = Prepared(_places, FEED_ID)
PLACES_AFTER = Prepared(_places, FEED_ID, (DeliveryBatch._meta.get_field("sequence"), SENTINEL))
PAYLOAD_ROWS = Prepared(  # a batch's transactions, in order, as its payload reads them
    lambda batch: (
        BankTransaction.objects.filter(delivery_batch=batch)
        .order_by("cleared_on_date", "id")
        .values_list(
            "transaction_id",
            "date",
            "cleared_on_date",
            "amount",
            "description",
            "transaction_type",
            "balance",
            "id",
        )
    ),
    (BankTransaction._meta.get_field("delivery_batch"), SENTINEL),
)
ANY_PENDING = Prepared(
    lambda account: BankTransaction.objects.filter(
        source_account_id=account, delivery_state=DeliveryState.PENDING
    ).values_list("pk")[:1],
    (BankTransaction._meta.get_field("source_account"), SENTINEL),
)


def next_batch(
    feed: Feed, trigger: str, size: int = BATCH_SIZE, *, after: DeliveryBatch | None = None
) -> DeliveryBatch | None:
    """The feed's oldest open batch (to re-send as it is), or a new one of its oldest pending
    transactions, recorded with them before anything is sent. `after`: the batch on the wire,
    whose follower this is."""
    if after is None:
        open_at, last_at = PLACES.rows(feed.pk)[0]
    else:
        open_at, last_at = PLACES_AFTER.rows(feed.pk, after.sequence)[0]
    if open_at is not None:
        open_batch = DeliveryBatch.objects.get(feed=feed, sequence=open_at)
        open_batch.feed = feed
        if open_batch.status == DeliveryStatus.FAILED:
            lifecycle.transition(
                open_batch, DeliveryStatus.PENDING, actor=WORKER, reason="next delivery run"
            )
        return open_batch
    with transaction.atomic():
        # A batch sent at once (not one recorded behind the batch on the wire) has its first
        # attempt counted as it is recorded: one commit less per small feed (`send` counts the
        # attempts after it).
        now = timezone.now() if after is None else None
        batch = DeliveryBatch.objects.create(
            feed=feed,
            trigger=trigger,
            sequence=(last_at or 0) + 1,
            attempts=1 if now else 0,
            last_attempt=now,
        )
        batch.first_attempt_recorded = now is not None
        oldest = BankTransaction.objects.filter(
            source_account_id=feed.source_account_id,
            delivery_state=DeliveryState.PENDING,
            delivery_batch__isnull=True,
        )
        if getattr(after, "last_key", None):
            # Start the index scan past the batch on the wire: on PostgreSQL the index still
            # holds the rows delivered so far (until VACUUM), and scanning them from the start
            # made each batch of a 200,000 backlog slower than the one before (24 -> 132 ms).
            # A transaction written meanwhile with an earlier date is left for the look the
            # push takes after letting go of the feed.
            oldest = oldest.extra(where=["(cleared_on_date, id) > (%s, %s)"], params=after.last_key)
        oldest = oldest.order_by("cleared_on_date", "id").values("pk")[:size]
        # One statement picks and records them (no id list travels to Python and back).
        count = BankTransaction.objects.filter(pk__in=oldest).update(delivery_batch=batch)
        if not count:
            transaction.set_rollback(True)
            return None
        DeliveryBatch.objects.filter(pk=batch.pk).update(transaction_count=count)
        batch.transaction_count = count
        batch.fresh = True  # made of everything pending, if it is not full
        record(WORKER, "delivery.batch_recorded", batch, transactions=count, trigger=trigger)
    return batch


def payload(batch: DeliveryBatch) -> dict[str, Any]:
    """The batch's body for QBO, its transactions read in order; notes on the batch where the
    next batch's index scan starts (`last_key`)."""
    currency = batch.feed.source_account.currency
    rows = PAYLOAD_ROWS.rows(batch.pk)
    if rows:
        batch.last_key = [rows[-1][2], rows[-1][7]]  # (clearedOnDate, id): where the next starts
    return wire.batch_body(batch.batch_id, currency, [row[:7] for row in rows])


def record_attempt(batch: DeliveryBatch) -> None:
    """One more attempt at sending the batch, and when (shown in admin)."""
    DeliveryBatch.objects.filter(pk=batch.pk).update(
        attempts=F("attempts") + 1, last_attempt=timezone.now()
    )


def mark_delivered(batch: DeliveryBatch) -> int:
    """After QBO's 200: the batch and its transactions are delivered (how many)."""
    now = timezone.now()
    account = batch.feed.source_account
    with transaction.atomic():
        rows = BankTransaction.objects.filter(delivery_batch=batch)
        # Whether anyone listens was read with the feed for its first batch, looked up afresh
        # for every later one.
        listening = batch.feed.__dict__.pop("listening", None)
        if listening is None:
            listening = outbox.listening(account.pk)
        by_write = outbox.pending_by_write(rows) if listening else {}
        count = rows.filter(STILL_PENDING).update(
            delivery_state=DeliveryState.DELIVERED, delivered=now
        )
        lifecycle.transition(
            batch,
            DeliveryStatus.DELIVERED,
            actor=WORKER,
            updates={"delivered": now, "last_error": ""},
        )
        outbox.delivered_events(account, by_write, how="push", at=now)
    return count


def mark_failed(batch: DeliveryBatch, error: str) -> None:
    """Retries exhausted for this run: the batch stays recorded and goes out again next time."""
    lifecycle.transition(
        batch,
        DeliveryStatus.FAILED,
        actor=WORKER,
        updates={"last_error": error, "next_attempt": timezone.now() + dt.timedelta(minutes=15)},
    )


def mark_rejected(batch: DeliveryBatch, error: str, http_status: int | None) -> None:
    """QBO refused the batch as it is: not retried, and the feed waits (delivering later
    transactions first would break the order) until an operator retries it in admin."""
    lifecycle.transition(
        batch,
        DeliveryStatus.REJECTED,
        actor=WORKER,
        updates={"last_error": error},
        http_status=http_status,
    )


def rejected_batch() -> Exists:
    """For an annotation on feeds: a rejected batch keeps the feed waiting."""
    return Exists(DeliveryBatch.objects.filter(feed=OuterRef("pk"), status=DeliveryStatus.REJECTED))


def blocked(feed: Feed) -> bool:
    """Whether a rejected batch keeps the feed waiting (read with the feed when it was
    annotated with `rejected_batch()` as `blocked`)."""
    known = getattr(feed, "blocked", None)
    if known is not None:
        return known
    return feed.delivery_batches.filter(status=DeliveryStatus.REJECTED).exists()


def has_pending(feed: Feed) -> bool:
    return bool(ANY_PENDING.rows(feed.source_account_id))


def feeds_to_push() -> list[str]:
    """Active feeds with something to deliver: pending transactions or an open batch. Only
    while QBO_DELIVERY includes push, and never a feed QBO pulls."""
    if "push" not in settings.QBO_DELIVERY:
        return []
    pending = BankTransaction.objects.filter(
        source_account_id=OuterRef("source_account_id"), delivery_state=DeliveryState.PENDING
    )
    return list(
        Feed.objects.active()
        .filter(Exists(pending), delivery=FeedDelivery.PUSH)
        .exclude(delivery_batches__status=DeliveryStatus.REJECTED)
        .order_by("created")
        .values_list("pk", flat=True)
    )


def feeds_to_resume(now: dt.datetime | None = None) -> list[str]:
    """Active push feeds whose push was cut short and that no pusher holds: an open batch
    (pending: a crashed or failed push left it; failed: its run's attempts were spent) whose
    `next_attempt` has come or was never set, on a feed whose claim has run out or was let go.
    Transactions never put in a batch are not here: they wait for the daily push or an Update.
    One query, on the (status, next_attempt) index: cheap when nothing is open."""
    if "push" not in settings.QBO_DELIVERY:
        return []
    now = now or timezone.now()
    due = DeliveryBatch.objects.filter(status__in=OPEN).filter(
        Q(next_attempt__isnull=True) | Q(next_attempt__lte=now)
    )
    return list(
        Feed.objects.active()
        .filter(
            leases.free("push_lease", now), delivery=FeedDelivery.PUSH, pk__in=due.values("feed_id")
        )
        .exclude(delivery_batches__status=DeliveryStatus.REJECTED)
        .order_by("created")
        .values_list("pk", flat=True)
    )


def put_off_resume(feed_ids: list[str], until: dt.datetime) -> int:
    """The feeds' open batches were handed to a pusher: not before `until` again, so that a push
    still waiting in the queue is not queued a second time every minute (a push that fails sets
    its own next attempt, one that is cut short again is resumed after `until`)."""
    return DeliveryBatch.objects.filter(feed_id__in=feed_ids, status__in=OPEN).update(
        next_attempt=until
    )
