"""Pushing feeds: one feed's pending transactions batch after batch, pipelined, under a claim
on the feed; several feeds one after another (a worker task's share of the daily push). A push
given a budget stops after it and says what is left; queueing that is the caller's."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.audit import record
from feeds.delivery import batches
from feeds.delivery.batches import BATCH_SIZE, WORKER
from feeds.delivery.claim import Lease, feed_claim
from feeds.delivery.send import send
from feeds.models import DeliveryBatch, Feed
from feeds.qbo.client import QboClient
from feeds.qbo.client import client as default_client

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
