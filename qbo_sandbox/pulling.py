"""QBO's pulls in pull mode: read a linked feed's transactions from linksite's IDX API and store
those not seen before. The wizard (the first pull), Update and the daily schedule all call
`pull_feed`; the schedule calls it for every feed through `pull_all`."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone

from qbo_sandbox import idx_client
from qbo_sandbox.models import LinkedFeed, PullError, ReceivedTransaction, sandbox_atomic

logger = logging.getLogger("qbo_sandbox.pulls")


def pull_mode() -> bool:
    """Whether the sandbox links and reads feeds through the IDX API (QBO_DELIVERY has pull)."""
    return "pull" in settings.QBO_DELIVERY


@dataclass
class PullResult:
    received: int = 0
    # Transactions served again by an overlapping window, already stored: not stored twice.
    already_stored: int = 0
    error: str = ""  # a PullError value, "" when the pull succeeded


def error_kind(exc: Exception) -> str:
    if isinstance(exc, idx_client.IdxRefused):
        # 401: the credentials are revoked (or wrong); 404: they no longer cover the account.
        if exc.status in (401, 404):
            return PullError.UNAUTHORIZED
        if exc.status == 429:
            return PullError.RATE_LIMITED
        return PullError.REFUSED
    return PullError.UNREACHABLE


def _row(feed: LinkedFeed, txn: dict[str, Any]) -> ReceivedTransaction | None:
    amount = txn.get("amount") if isinstance(txn.get("amount"), dict) else {}
    try:
        value = Decimal(str(amount.get("amount")))
        posted = dt.date.fromisoformat(str(txn.get("postedDate")))
        date = dt.date.fromisoformat(str(txn.get("transactionDate") or posted.isoformat()))
    except (InvalidOperation, ValueError):
        return None
    if not txn.get("transactionId") or not value.is_finite():
        return None
    return ReceivedTransaction(
        feed=feed,
        txn_id=str(txn["transactionId"])[:100],
        date=date,
        cleared_on_date=posted,
        amount=value,
        currency=str(amount.get("currency") or feed.currency)[:3],
        description=str(txn.get("transactionDescription") or ""),
        transaction_type=str(txn.get("transactionValueType") or "").lower()[:20],
    )


def window_start(feed: LinkedFeed) -> dt.date:
    """From the last pull's UTC day, or the feed start date for the first pull."""
    if feed.last_pulled_at is None:
        return feed.feed_start_date
    return feed.last_pulled_at.astimezone(dt.UTC).date()


def pull_feed(feed: LinkedFeed) -> PullResult:
    """Pull one active pull-mode feed: every page from `window_start`, stored once per
    transaction id. The outcome (or the error) is recorded on the feed for its page."""
    result = PullResult()
    credential = feed.credential
    if not feed.is_active or not feed.is_pulled or credential is None:
        return result
    started = timezone.now()
    try:
        served = idx_client.transactions(
            credential.username,
            credential.password,
            feed.source_account_id,
            window_start(feed).isoformat(),
        )
    except (idx_client.IdxRefused, idx_client.IdxUnavailable) as exc:
        logger.warning("pull of feed %s failed: %s", feed.feed_id, exc)
        result.error = error_kind(exc)
        LinkedFeed.objects.filter(pk=feed.pk).update(pull_error=result.error, pull_error_at=started)
        return result
    rows: dict[str, ReceivedTransaction] = {}
    for txn in served:
        row = _row(feed, txn)
        if row is not None:
            rows.setdefault(row.txn_id, row)
    with sandbox_atomic():
        known = set(
            ReceivedTransaction.objects.filter(feed=feed, txn_id__in=list(rows)).values_list(
                "txn_id", flat=True
            )
        )
        new = [row for txn_id, row in rows.items() if txn_id not in known]
        # ignore_conflicts: a concurrent pull of the same feed (Update during the schedule) may
        # have stored some of them in the meantime; the unique constraint keeps one.
        ReceivedTransaction.objects.bulk_create(new, ignore_conflicts=True)
        LinkedFeed.objects.filter(pk=feed.pk).update(
            last_pulled_at=started, pull_error="", pull_error_at=None
        )
    feed.last_pulled_at, feed.pull_error = started, ""
    result.received, result.already_stored = len(new), len(rows) - len(new)
    return result


def pull_all() -> dict[str, int]:
    """Pull every active pull-mode feed (the daily schedule); one feed's error stops no other."""
    counts = {"feeds": 0, "received": 0, "errors": 0}
    if not pull_mode():
        return counts
    for feed in LinkedFeed.objects.pulled().order_by("pk"):
        result = pull_feed(feed)
        counts["feeds"] += 1
        counts["received"] += result.received
        counts["errors"] += bool(result.error)
    return counts
