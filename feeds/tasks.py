"""What the django-q2 worker runs. Thin: each task calls a plain function that a management
command and a test can call too."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from django.conf import settings

from feeds import delivery
from feeds.maintenance import run_daily_maintenance

log = logging.getLogger(__name__)


def daily_maintenance(**kwargs: Any) -> dict[str, int]:
    summary = run_daily_maintenance()
    log.info("daily maintenance: %s", summary)
    return summary


def daily_push(**kwargs: Any) -> int:
    """Queue the push of every active feed with something to deliver, a few feeds to a task
    (PUSH_FEEDS_PER_TASK), so that the worker's processes share them out."""
    queued = delivery.queue_daily_push()
    log.info("daily push: %s feeds queued", queued)
    return queued


def push_feed(feed_id: str, trigger: str = "update", **kwargs: Any) -> dict[str, Any]:
    """Deliver one feed now (Update in QBO, the daily push's fan-out, or an operator)."""
    result = delivery.push_feed(feed_id, trigger, budget=settings.PUSH_TASK_BUDGET_SECONDS)
    log.info("push of feed %s (%s): %s", feed_id, trigger, result)
    if result.outcome == "busy" and trigger != "schedule":
        # Another pusher holds the feed: a live one looks again for new transactions when it
        # is done, but a crashed one's claim only runs out. An Update must not be lost in
        # between: try again once the claim has run out.
        delivery.queue_push_after_claim(feed_id, trigger)
    return asdict(result)


def push_feeds(feed_ids: list[str], trigger: str = "schedule", **kwargs: Any) -> dict[str, int]:
    """Deliver a few feeds, one after another (the daily push's fan-out)."""
    outcomes = delivery.push_feeds(feed_ids, trigger, budget=settings.PUSH_TASK_BUDGET_SECONDS)
    log.info("push of %s feeds (%s): %s", len(feed_ids), trigger, outcomes)
    return outcomes
