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

A long backlog is streamed: one batch of at most 1000 is read, sent and marked at a time, so
memory does not grow with the backlog, and a push given a budget (a worker task's
PUSH_TASK_BUDGET_SECONDS) stops after it and says so, for the task to queue the rest."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import feed_rules, lifecycle
from feeds.models import (
    BankTransaction,
    DeliveryBatch,
    DeliveryState,
    DeliveryStatus,
    Feed,
    FeedPushLock,
)
from feeds.qbo import wire
from feeds.qbo.client import QboClient
from feeds.qbo.client import client as default_client
from feeds.qbo.wire import Answer, Kind
from feeds.retrying import Policy, Transient, retry

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
LONGEST_RETRY_AFTER = 60.0
WORKER = Actor.worker()


@dataclass
class PushResult:
    feed_id: str
    outcome: str  # done, continued, busy, inactive, failed, rejected, disconnected, blocked
    delivered: int = 0
    batches: int = 0
    error: str = ""


@dataclass
class PushFeedsResult:
    """What pushing several feeds came to: how many feeds ended in each outcome; the feeds whose
    own push its budget cut short ("continued"); the feeds the budget left no time for."""

    outcomes: dict[str, int] = field(default_factory=dict)
    continued: list[str] = field(default_factory=list)
    not_reached: list[str] = field(default_factory=list)


def _lease_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.FEED_PUSH_LEASE_SECONDS)


def take_lease(
    feed_id: str, owner: str, now: dt.datetime | None = None, *, force: bool = False
) -> bool:
    """Claim the feed unless another pusher's lease is still running (`force`: the caller holds
    the PostgreSQL row lock, so a lease left behind is a crashed pusher's)."""
    now = now or timezone.now()
    feeds = Feed.objects.filter(pk=feed_id)
    if not force:
        feeds = feeds.filter(Q(push_lease_until__isnull=True) | Q(push_lease_until__lt=now))
    return feeds.update(push_lease_owner=owner, push_lease_until=now + _lease_length()) == 1


def renew_lease(feed_id: str, owner: str) -> None:
    Feed.objects.filter(pk=feed_id, push_lease_owner=owner).update(
        push_lease_until=timezone.now() + _lease_length()
    )


class Lease:
    """The pusher's lease, renewed before each request to QBO when what is left of it might
    not outlast the request (connect and read timeouts, and a margin): with the defaults at most
    every 75 s, not before every batch."""

    def __init__(self, feed_id: str, owner: str) -> None:
        self.feed_id, self.owner = feed_id, owner
        self.renewed = time.monotonic()  # taken with the claim, just now

    def renew(self) -> None:
        longest_request = settings.QBO_CONNECT_TIMEOUT + settings.QBO_READ_TIMEOUT + 10
        if time.monotonic() - self.renewed >= settings.FEED_PUSH_LEASE_SECONDS - longest_request:
            renew_lease(self.feed_id, self.owner)
            self.renewed = time.monotonic()


def lease_until(feed_id: str) -> dt.datetime | None:
    """When the claim on the feed runs out, unless renewed (None: not claimed)."""
    return Feed.objects.filter(pk=feed_id).values_list("push_lease_until", flat=True).first()


def release_lease(feed_id: str, owner: str) -> None:
    Feed.objects.filter(pk=feed_id, push_lease_owner=owner).update(
        push_lease_owner="", push_lease_until=None
    )


@contextmanager
def feed_claim(feed_id: str, owner: str) -> Iterator[bool]:
    """Whether this pusher may push the feed (and holds it until the block ends).

    Everywhere: an optimistic lease on the feed row (a conditional UPDATE), renewed before each
    request to QBO, so a crashed pusher's claim runs out after FEED_PUSH_LEASE_SECONDS.
    On PostgreSQL, first a row lock on the feed's `FeedPushLock` row, taken with SKIP LOCKED on
    a connection of its own and held until the push ends: a second pusher skips the feed at
    once, and a pusher that dies (kill -9) frees it as soon as its connection drops."""
    if connection.vendor != "postgresql":
        held = take_lease(feed_id, owner)
        try:
            yield held
        finally:
            if held:
                release_lease(feed_id, owner)
        return

    # Inside a caller's transaction the lock is the caller's to hold (and only it can see rows
    # it has not committed); otherwise the thread's lock connection holds it for the push.
    nested = getattr(_lock_connections, "busy", False)
    if connection.in_atomic_block:
        own = None
    elif nested:  # a claim inside a claim (one thread): a connection of its own, for this once
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        own.set_autocommit(False)
    else:
        own = _lock_connection()
        _lock_connections.busy = True
    lock_db = own or connection
    held = False
    try:
        held = _lock_row(lock_db, feed_id)
        if not held and not FeedPushLock.objects.filter(feed_id=feed_id).exists():
            # The feed's first push: its lock row is made once (on the caller's connection).
            FeedPushLock.objects.bulk_create([FeedPushLock(feed_id=feed_id)], ignore_conflicts=True)
            held = _lock_row(lock_db, feed_id)
        if held:
            take_lease(feed_id, owner, force=True)
        yield held
    finally:
        if held:
            release_lease(feed_id, owner)
        if own is not None and nested:
            own.close()
        elif own is not None:
            _lock_connections.busy = False
            try:
                own.rollback()  # lets go of the lock; the connection stays for the next push
            except Exception:
                _drop_lock_connection()
                raise


def _lock_row(lock_db: Any, feed_id: str) -> bool:
    with lock_db.cursor() as cursor:
        cursor.execute(
            "SELECT feed_id FROM feeds_feedpushlock WHERE feed_id = %s FOR UPDATE SKIP LOCKED",
            [feed_id],
        )
        return cursor.fetchone() is not None


_lock_connections = threading.local()


def _lock_connection() -> Any:
    """This thread's connection for push locks (PostgreSQL), opened once and kept: opening one
    per push cost more than pushing a small feed."""
    db = getattr(_lock_connections, "db", None)
    if db is not None and (db.connection is None or db.connection.closed):
        _drop_lock_connection()
        db = None
    if db is None:
        db = connections.create_connection(DEFAULT_DB_ALIAS)
        db.set_autocommit(False)
        _lock_connections.db = db
    return db


def _drop_lock_connection() -> None:
    db = getattr(_lock_connections, "db", None)
    _lock_connections.db = None
    if db is not None:
        with contextlib.suppress(Exception):
            db.close()


def next_batch(
    feed: Feed, trigger: str, size: int = BATCH_SIZE, *, after: DeliveryBatch | None = None
) -> DeliveryBatch | None:
    """The feed's oldest open batch (to re-send as it is), or a new one of its oldest pending
    transactions, recorded with them before anything is sent. `after`: the batch on the wire,
    whose follower this is."""
    open_batches = DeliveryBatch.objects.filter(
        feed=feed, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    )
    if after is not None:
        open_batches = open_batches.filter(sequence__gt=after.sequence)
    open_batch = open_batches.order_by("sequence").first()
    if open_batch is not None:
        if open_batch.status == DeliveryStatus.FAILED:
            lifecycle.transition(
                open_batch, DeliveryStatus.PENDING, actor=WORKER, reason="next delivery run"
            )
        return open_batch
    with transaction.atomic():
        batch = DeliveryBatch.objects.create(feed=feed, trigger=trigger)
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
    rows = list(
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
    )
    if rows:
        batch.last_key = [rows[-1][2], rows[-1][7]]  # (clearedOnDate, id): where the next starts
    return wire.batch_body(batch.batch_id, currency, [row[:7] for row in rows])


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
    heartbeat: Callable[[], None] = lambda: None,
    *,
    body: dict[str, Any] | None = None,
    meanwhile: Callable[[], None] | None = None,
    mark: bool = True,
) -> tuple[str, int, str]:
    """Send one batch until QBO answers for good or the attempts run out:
    (outcome, delivered count, last error). `heartbeat` runs before each request; `meanwhile`
    (database work of the pusher's own) runs once, while the first request is on the wire.
    `mark=False`: the caller marks the batch delivered (`_delivered`) after QBO's 200."""
    body = body or payload(batch)
    feed = batch.feed

    def record_attempt(number: int) -> None:
        with transaction.atomic():  # one commit for both
            heartbeat()
            DeliveryBatch.objects.filter(pk=batch.pk).update(
                attempts=F("attempts") + 1, last_attempt=timezone.now()
            )

    def attempt() -> Answer | Transient:
        nonlocal meanwhile
        try:
            answer = _post(qbo, feed.pk, body, meanwhile)
        finally:
            meanwhile = None
        if answer.kind is Kind.TRANSIENT:
            return Transient(answer.error)
        if answer.kind is Kind.RETRY_AFTER:
            return Transient(answer.error, wait=answer.retry_after)
        return answer

    answer = retry(
        attempt,
        _retry_policy(),
        record_attempt=record_attempt,
        sleep=sleep,
        what=f"batch {batch.batch_id}",
    )
    if isinstance(answer, Transient):
        _give_up(batch, answer.error)
        return "failed", 0, answer.error
    if answer.kind is Kind.DELIVERED:
        return "done", _delivered(batch) if mark else 0, ""
    if answer.kind is Kind.DISCONNECTED:
        feed_rules.disable_feed(feed, actor=WORKER)
        _give_up(batch, answer.error)
        return "disconnected", 0, answer.error
    # Rejected: not retried as it is, and the feed waits (see the module's docstring).
    lifecycle.transition(
        batch,
        DeliveryStatus.REJECTED,
        actor=WORKER,
        updates={"last_error": answer.error},
        http_status=answer.status,
    )
    return "rejected", 0, answer.error


def _retry_policy() -> Policy:
    return Policy(
        attempts=settings.PUSH_ATTEMPTS_PER_RUN,
        backoff_base=settings.PUSH_BACKOFF_BASE_SECONDS,
        backoff_cap=settings.PUSH_BACKOFF_CAP_SECONDS,
        longest_wait=LONGEST_RETRY_AFTER,
    )


def _post(
    qbo: QboClient, feed_id: str, body: dict[str, Any], meanwhile: Callable[[], None] | None
) -> Answer:
    """POST the batch; with `meanwhile`, from a thread of its own while `meanwhile` runs here
    (the request waits on QBO, the pusher on its database: neither waits for the other)."""
    if meanwhile is None:
        return qbo.send_batch(feed_id, body)
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            outcome["answer"] = qbo.send_batch(feed_id, body)
        except BaseException as exc:  # handed to the pusher's thread below
            outcome["error"] = exc

    request = threading.Thread(target=post, name="qbo-push", daemon=True)
    request.start()
    try:
        meanwhile()
    finally:
        request.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


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
    budget: float | None = None,
) -> PushResult:
    """Deliver everything pending for one feed, batch after batch.

    `budget` (seconds): stop taking new batches after this long, with the outcome "continued"
    when transactions are still pending (the worker passes PUSH_TASK_BUDGET_SECONDS and queues
    the rest as a task of its own; a shell command passes nothing)."""
    feed = Feed.objects.select_related("source_account__connection").filter(pk=feed_id).first()
    if feed is None or not feed.is_active:
        return PushResult(feed_id, "inactive")
    if feed.delivery_batches.filter(status=DeliveryStatus.REJECTED).exists():
        return PushResult(feed_id, "blocked", error="a batch was rejected by QBO; see admin")
    started = time.monotonic()
    result = PushResult(feed_id, "busy")
    qbo = qbo or default_client()
    # Transactions written while this push ran, after its last look, would wait for the next
    # run if an Update that came meanwhile found the feed busy: look again after letting go.
    for _round in range(3):
        owner = uuid.uuid4().hex
        with feed_claim(feed_id, owner) as held:
            if not held:
                break
            result.outcome = "done"
            record(
                WORKER,
                "delivery.push_started",
                feed,
                trigger=trigger,
                pusher=owner,
                pid=os.getpid(),
            )
            try:
                lease = Lease(feed_id, owner)
                _push_batches(feed, trigger, lease, qbo, sleep, batch_size, started, budget, result)
            finally:
                record(
                    WORKER,
                    "delivery.feed_pushed",
                    feed,
                    trigger=trigger,
                    pusher=owner,
                    outcome=result.outcome,
                    delivered=result.delivered,
                    batches=result.batches,
                )
        if result.outcome != "done" or not _has_pending(feed):
            break
    return result


def _push_batches(
    feed: Feed,
    trigger: str,
    lease: Lease,
    qbo: QboClient,
    sleep: Callable[[float], None],
    batch_size: int,
    started: float,
    budget: float | None,
    result: PushResult,
) -> None:
    """Batch after batch, pipelined: while batch n is on the wire, the pusher marks batch n-1
    delivered and records batch n+1. A pusher that stops in between leaves them open (n-1
    answered by QBO but not marked), and the next run re-sends them in sequence, with their
    batch ids: QBO counts what it has as duplicates and stores nothing twice."""
    answered: list[DeliveryBatch] = []  # QBO's 200 came; not marked delivered yet

    def mark_answered() -> None:
        while answered:
            result.delivered += _delivered(answered.pop())

    def out_of_time() -> bool:
        return budget is not None and time.monotonic() - started >= budget

    batch = next_batch(feed, trigger, batch_size)
    body = payload(batch) if batch is not None else None
    while batch is not None:
        # A fresh batch that is not full was everything pending (what comes since is looked
        # for after letting go of the feed).
        last = getattr(batch, "fresh", False) and batch.transaction_count < batch_size
        following: list[tuple[DeliveryBatch, dict[str, Any]]] = []

        def meanwhile(
            last: bool = last, following: list = following, current: DeliveryBatch = batch
        ) -> None:
            mark_answered()
            if last or out_of_time():
                return
            upcoming = next_batch(feed, trigger, batch_size, after=current)
            if upcoming is not None:
                following.append((upcoming, payload(upcoming)))

        outcome, _, error = send(
            batch,
            qbo,
            sleep,
            heartbeat=lease.renew,
            body=body,
            meanwhile=meanwhile if answered or not last else None,
            mark=False,
        )
        result.batches += 1
        if outcome != "done":
            result.outcome, result.error = outcome, error
            return
        answered.append(batch)
        if following:
            batch, body = following[0]
            continue
        mark_answered()
        if last:
            return
        # Looked at after a batch, so that every task makes progress.
        if out_of_time() and _has_pending(feed):
            result.outcome = "continued"
            return
        batch = next_batch(feed, trigger, batch_size)
        body = payload(batch) if batch is not None else None


def _has_pending(feed: Feed) -> bool:
    return BankTransaction.objects.filter(
        source_account_id=feed.source_account_id, delivery_state=DeliveryState.PENDING
    ).exists()


def feeds_to_push() -> list[str]:
    """Active feeds with something to deliver: pending transactions or an open batch."""
    pending = BankTransaction.objects.filter(
        source_account_id=OuterRef("source_account_id"), delivery_state=DeliveryState.PENDING
    )
    return list(
        Feed.objects.active()
        .filter(Exists(pending))
        .exclude(delivery_batches__status=DeliveryStatus.REJECTED)
        .order_by("created")
        .values_list("pk", flat=True)
    )


def push_feeds(feed_ids: list[str], trigger: str, budget: float | None = None) -> PushFeedsResult:
    """Push several feeds one after another. One feed's error is logged and does not keep the
    others from going out; the feeds still waiting when `budget` runs out are left for the
    caller to hand on (`not_reached`)."""
    started = time.monotonic()
    pushed = PushFeedsResult()
    for position, feed_id in enumerate(feed_ids):
        left = None if budget is None else budget - (time.monotonic() - started)
        if position and left is not None and left <= 0:  # the first always goes
            pushed.not_reached = list(feed_ids[position:])
            break
        try:
            outcome = push_feed(feed_id, trigger, budget=left).outcome
        except Exception:
            log.exception("push of feed %s (%s) failed", feed_id, trigger)
            outcome = "error"
        pushed.outcomes[outcome] = pushed.outcomes.get(outcome, 0) + 1
        if outcome == "continued":
            pushed.continued.append(feed_id)
    return pushed
