"""Pushing feeds: one feed's pending transactions batch after batch, pipelined, under a claim
on the feed; several feeds one after another (a worker task's share of the daily push). A push
given a budget stops after it and says what is left; queueing that is the caller's."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, connections

from accounts.audit import record
from feeds.delivery import batches
from feeds.delivery.batches import BATCH_SIZE, WORKER
from feeds.delivery.claim import Lease, drop_lock_connection, feed_claim
from feeds.delivery.send import send
from feeds.models import Connection, DeliveryBatch, Feed, SourceAccount
from feeds.prepared import Prepared, columns
from feeds.qbo.client import QboClient
from feeds.qbo.client import client as default_client
from feeds.webhooks import outbox

log = logging.getLogger(__name__)


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


# A push's first read: the feed with its account and connection, whether a rejected batch blocks
# it and whether anyone listens for its webhook events. Compiled once per process (and on
# PostgreSQL a prepared statement: planning its joins took ten times running them).
FEED_READ = Prepared(
    lambda pk: (
        Feed.objects.filter(pk=pk)
        .annotate(blocked=batches.rejected_batch(), listening=outbox.listening_annotation())
        .values_list(
            *columns(Feed),
            "blocked",
            "listening",
            *(f"source_account__{name}" for name in columns(SourceAccount)),
            *(f"source_account__connection__{name}" for name in columns(Connection)),
        )
    ),
    batches.FEED_ID,
)


def _read_feed(feed_id: str) -> Feed | None:
    rows = FEED_READ.rows(feed_id)
    if not rows:
        return None
    row = rows[0]
    feeds, accounts = len(columns(Feed)), len(columns(SourceAccount))
    feed = Feed.from_db("default", columns(Feed), row[:feeds])
    feed.blocked, feed.listening = row[feeds], row[feeds + 1]
    account_at = feeds + 2
    account = SourceAccount.from_db(
        "default", columns(SourceAccount), row[account_at : account_at + accounts]
    )
    account.connection = Connection.from_db(
        "default", columns(Connection), row[account_at + accounts :]
    )
    feed.source_account = account
    return feed


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
    feed = _read_feed(feed_id)
    if feed is None or not feed.is_active:
        return PushResult(feed_id, "inactive")
    if batches.blocked(feed):
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
        if result.outcome != "done" or not batches.has_pending(feed):
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
            result.delivered += batches.mark_delivered(answered.pop())

    def out_of_time() -> bool:
        return budget is not None and time.monotonic() - started >= budget

    batch = batches.next_batch(feed, trigger, batch_size)
    body = batches.payload(batch) if batch is not None else None
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
            upcoming = batches.next_batch(feed, trigger, batch_size, after=current)
            if upcoming is not None:
                following.append((upcoming, batches.payload(upcoming)))

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
        if out_of_time() and batches.has_pending(feed):
            result.outcome = "continued"
            return
        batch = batches.next_batch(feed, trigger, batch_size)
        body = batches.payload(batch) if batch is not None else None


def push_feeds(
    feed_ids: list[str], trigger: str, budget: float | None = None, *, threads: int | None = None
) -> PushFeedsResult:
    """Push several feeds, `threads` at a time (PUSH_FEEDS_THREADS): while one feed's request
    is on the wire, the next feed is claimed, recorded and read, so a small feed's database work
    no longer adds to its request's time. Each feed is still pushed under its own claim, as by
    several workers, so nothing is sent twice. Inside a caller's transaction (whose rows other
    connections cannot see) the feeds go one after another on the caller's connection.

    One feed's error is logged and does not keep the others from going out; the feeds still
    waiting when `budget` runs out are left for the caller to hand on (`not_reached`), in their
    order; the first feed always goes."""
    threads = settings.PUSH_FEEDS_THREADS if threads is None else threads
    if threads <= 1 or len(feed_ids) <= 1 or connection.in_atomic_block:
        return _push_in_turn(feed_ids, trigger, budget)
    started = time.monotonic()
    pushed = PushFeedsResult()
    waiting = list(enumerate(feed_ids))
    left_out: list[tuple[int, str]] = []
    lock = threading.Lock()

    def take() -> tuple[str, float | None] | None:
        with lock:
            if not waiting:
                return None
            position, feed_id = waiting.pop(0)
            left = None if budget is None else budget - (time.monotonic() - started)
            if position and left is not None and left <= 0:
                left_out.extend([(position, feed_id), *waiting])
                waiting.clear()
                return None
            return feed_id, left

    def pusher() -> None:
        try:
            while (job := take()) is not None:
                outcome = _push_one(*job, trigger)
                with lock:
                    _tally(pushed, job[0], outcome)
        finally:  # this thread's database connections end with it
            drop_lock_connection()
            connections.close_all()

    workers = [threading.Thread(target=pusher, name=f"push-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    pushed.not_reached = [feed_id for _position, feed_id in sorted(left_out)]
    pushed.continued.sort(key=feed_ids.index)
    return pushed


def _push_in_turn(feed_ids: list[str], trigger: str, budget: float | None) -> PushFeedsResult:
    started = time.monotonic()
    pushed = PushFeedsResult()
    for position, feed_id in enumerate(feed_ids):
        left = None if budget is None else budget - (time.monotonic() - started)
        if position and left is not None and left <= 0:  # the first always goes
            pushed.not_reached = list(feed_ids[position:])
            break
        _tally(pushed, feed_id, _push_one(feed_id, left, trigger))
    return pushed


def _push_one(feed_id: str, left: float | None, trigger: str) -> str:
    try:
        return push_feed(feed_id, trigger, budget=left).outcome
    except Exception:
        log.exception("push of feed %s (%s) failed", feed_id, trigger)
        return "error"


def _tally(pushed: PushFeedsResult, feed_id: str, outcome: str) -> None:
    pushed.outcomes[outcome] = pushed.outcomes.get(outcome, 0) + 1
    if outcome == "continued":
        pushed.continued.append(feed_id)
