"""What the django-q2 worker runs, and the one place work is queued for it. Thin: each task
calls a plain function that a management command and a test can call too, then queues what
that function says is left (a push cut short by its budget, feeds it left no time for, an
Update that found the feed busy)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from accounts.audit import Actor, record
from feeds import dashboard
from feeds.delivery import batches, claim, push
from feeds.maintenance import run_daily_maintenance
from feeds.webhooks import outbox, sending

log = logging.getLogger(__name__)

WORKER = Actor.worker()


def daily_maintenance(**kwargs: Any) -> dict[str, int]:
    summary = run_daily_maintenance()
    log.info("daily maintenance: %s", summary)
    return summary


def heartbeat(**kwargs: Any) -> None:
    """Every minute: the worker says it is alive (the dashboard's "worker not seen")."""
    dashboard.beat()


def refresh_dashboard(**kwargs: Any) -> int:
    """Every few minutes: the dashboard's daily delivery figures, today's again."""
    return dashboard.refresh_days()


def daily_push(**kwargs: Any) -> int:
    """Queue the push of every active feed with something to deliver, a few feeds to a task
    (PUSH_FEEDS_PER_TASK), so that the worker's processes share them out."""
    queued = queue_daily_push()
    log.info("daily push: %s feeds queued", queued)
    return queued


# A feed the sweep handed to a pusher is not handed again before this, however long its task
# waits in the queue (a push that dies again is resumed after it).
RESUME_AGAIN_AFTER = dt.timedelta(minutes=5)


def resume_pushes(**kwargs: Any) -> int:
    """Every minute: queue the push of every feed whose push was cut short (a crash, a task the
    broker lost) or failed for its run and is due again, once no pusher holds it, a few feeds
    to a task like the daily push. How many feeds it queued."""
    feeds = batches.feeds_to_resume()
    if not feeds:
        return 0
    batches.put_off_resume(feeds, timezone.now() + RESUME_AGAIN_AFTER)
    size = settings.PUSH_FEEDS_PER_TASK
    for start in range(0, len(feeds), size):
        queue_pushes(feeds[start : start + size], "schedule")
    record(WORKER, "delivery.pushes_resumed", None, feeds=len(feeds))
    log.info("resumed the push of %s feeds", len(feeds))
    return len(feeds)


def push_feed(feed_id: str, trigger: str = "update", **kwargs: Any) -> dict[str, Any]:
    """Deliver one feed now (Update in QBO, the daily push's fan-out, or an operator)."""
    result = push.push_feed(feed_id, trigger, budget=settings.PUSH_TASK_BUDGET_SECONDS)
    log.info("push of feed %s (%s): %s", feed_id, trigger, result)
    if result.outcome == "continued":
        # The budget ran out with transactions still pending: the rest is a task of its own,
        # so that this one ends well inside the worker's timeout.
        queue_push(feed_id, trigger)
    elif result.outcome == "busy" and trigger != "schedule":
        # Another pusher holds the feed: a live one looks again for new transactions when it
        # is done, but a crashed one's claim only runs out. An Update must not be lost in
        # between: try again once the claim has run out.
        queue_push_after_claim(feed_id, trigger)
    return asdict(result)


def push_feeds(feed_ids: list[str], trigger: str = "schedule", **kwargs: Any) -> dict[str, int]:
    """Deliver a few feeds, one after another (the daily push's fan-out): how many ended in
    each outcome, and how many were queued again because the budget ran out before them."""
    pushed = push.push_feeds(feed_ids, trigger, budget=settings.PUSH_TASK_BUDGET_SECONDS)
    for feed_id in pushed.continued:
        queue_push(feed_id, trigger)
    outcomes = dict(pushed.outcomes)
    if pushed.not_reached:
        queue_pushes(pushed.not_reached, trigger)
        outcomes["queued again"] = len(pushed.not_reached)
    log.info("push of %s feeds (%s): %s", len(feed_ids), trigger, outcomes)
    return outcomes


def send_webhooks(endpoint_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Deliver the webhooks due to one endpoint (or to any): queued when events are recorded,
    and by the sweep. What its budget left is a task of its own."""
    result = sending.deliver_due(endpoint_id, budget=settings.PUSH_TASK_BUDGET_SECONDS)
    if result.continued:
        queue_webhooks(endpoint_id)
    if result.delivered or result.retrying or result.failed:
        log.info("webhooks to %s: %s", endpoint_id or "any endpoint", asdict(result))
    return asdict(result)


def sweep_webhooks(**kwargs: Any) -> int:
    """Every minute: set senders to work on every endpoint with deliveries due and not claimed
    (retries whose time has come, and anything a crashed sender left), several for one with
    many. How many tasks it queued."""
    queued = 0
    for endpoint_id, count in sending.due_by_endpoint().items():
        for _ in range(sending.senders_wanted(count)):
            queue_webhooks(endpoint_id)
            queued += 1
    return queued


def queue_webhooks(endpoint_id: str | None) -> str:
    return async_task(
        "feeds.tasks.send_webhooks", endpoint_id, task_name=f"webhooks {endpoint_id or 'any'}"
    )


@receiver(outbox.events_committed)
def _events_committed(sender: Any, endpoint_ids: list[str], **kwargs: Any) -> None:
    """Events were recorded: their endpoints' deliveries go out now, not at the next sweep."""
    for endpoint_id in endpoint_ids:
        try:
            queue_webhooks(endpoint_id)
        except Exception:  # the sweep sends them within the minute
            log.exception("could not queue the webhooks of endpoint %s", endpoint_id)


def queue_push(feed_id: str, trigger: str) -> str:
    """Queue one feed's push for the worker (an Update, an operator, a continuation)."""
    return async_task("feeds.tasks.push_feed", feed_id, trigger, task_name=f"push {feed_id}")


def queue_push_after_claim(feed_id: str, trigger: str) -> None:
    """Queue the feed's push for when the claim on it runs out (a one-off schedule)."""
    until = claim.lease_until(feed_id)
    now = timezone.now()
    Schedule.objects.update_or_create(
        name=f"push {feed_id} after claim",
        defaults={
            "func": "feeds.tasks.push_feed",
            "args": repr((feed_id, trigger)),
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": max(until or now, now) + dt.timedelta(seconds=1),
        },
    )


def queue_pushes(feed_ids: list[str], trigger: str) -> str:
    """Queue several feeds' pushes as one task, which pushes them one after another."""
    return async_task(
        "feeds.tasks.push_feeds",
        list(feed_ids),
        trigger,
        task_name=f"push {len(feed_ids)} feeds from {feed_ids[0]}",
    )


def queue_daily_push() -> int:
    """Queue the push of every feed with something to deliver, PUSH_FEEDS_PER_TASK to a task."""
    feeds = batches.feeds_to_push()
    size = settings.PUSH_FEEDS_PER_TASK
    for start in range(0, len(feeds), size):
        queue_pushes(feeds[start : start + size], "schedule")
    record(WORKER, "delivery.daily_push_queued", None, feeds=len(feeds), per_task=size)
    return len(feeds)
