"""Sending one batch to QBO: attempt after attempt (`feeds.retrying`) until QBO's answer is
final or the run's attempts are spent, then recording what became of the batch. The request
can go from a thread of its own while the pusher does its database work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

from feeds import feed_rules
from feeds.delivery import batches
from feeds.delivery.batches import WORKER
from feeds.models import DeliveryBatch
from feeds.qbo.client import QboClient
from feeds.qbo.wire import Answer, Kind
from feeds.retrying import Policy, Transient, retry

# A 429 asking for a longer wait ends the run for this batch: the next run sends it.
LONGEST_RETRY_AFTER = 60.0


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
    `mark=False`: the caller marks the batch delivered (`batches.mark_delivered`) after QBO's
    200."""
    body = body or batches.payload(batch)
    feed = batch.feed

    def record_attempt(number: int) -> None:
        if number == 1 and getattr(batch, "first_attempt_recorded", False):
            heartbeat()  # counted when the batch was recorded
            return
        with transaction.atomic():  # one commit for both
            heartbeat()
            batches.record_attempt(batch)

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
        batches.mark_failed(batch, answer.error)
        return "failed", 0, answer.error
    if answer.kind is Kind.DELIVERED:
        return "done", batches.mark_delivered(batch) if mark else 0, ""
    if answer.kind is Kind.DISCONNECTED:
        feed_rules.disable_feed(feed, actor=WORKER)
        batches.mark_failed(batch, answer.error)
        return "disconnected", 0, answer.error
    # What is left is Kind.REJECTED.
    batches.mark_rejected(batch, answer.error, answer.status)
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
