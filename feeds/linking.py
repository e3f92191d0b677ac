"""Feeds: a source account linked to a QBO target account, and how a feed ends.

`link_feed` is what a successful link in QBO does (`product.md` §1 step 4, §6); `disable_feed` is
a disconnect in QBO (the account stays `connected` for the grace period, but writes fail at once);
`end_feeds` is linksite stopping feeds itself (the client deleted the account)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import lifecycle
from feeds.models import (
    BankTransaction,
    ConnectionStatus,
    CredentialSet,
    DeliveryState,
    Feed,
    SourceAccount,
    SourceAccountStatus,
)


def active_feed(account: SourceAccount) -> Feed | None:
    return account.feeds.filter(disabled_on_utc__isnull=True, ended__isnull=True).first()


def link_feed(
    account: SourceAccount,
    *,
    target_account_id: str,
    target_account_name: str,
    target_account_type: str,
    feed_start_date: dt.date,
    actor: Actor,
    credential_set: CredentialSet | None = None,
) -> Feed:
    """Link `account` to a QBO target account: a new feed, the account `connected`, the
    connection `Linked`. Raises `lifecycle.IllegalTransition` for a deauthorized connection."""
    with transaction.atomic():
        connection = account.connection
        if connection.status != ConnectionStatus.LINKED:
            lifecycle.transition(
                connection, ConnectionStatus.LINKED, actor=actor, reason="account linked in QBO"
            )
        feed = Feed.objects.create(
            source_account=account,
            credential_set=credential_set,
            target_account_id=target_account_id,
            target_account_name=target_account_name,
            target_account_type=target_account_type,
            feed_start_date=feed_start_date,
        )
        if account.status != SourceAccountStatus.CONNECTED:
            lifecycle.transition(
                account, SourceAccountStatus.CONNECTED, actor=actor, reason="linked in QBO"
            )
        # Pending transactions left in a batch of an earlier feed (QBO disconnected it before
        # they got there) go to this one.
        BankTransaction.objects.filter(
            source_account=account,
            delivery_state=DeliveryState.PENDING,
            delivery_batch__isnull=False,
        ).exclude(delivery_batch__feed=feed).update(delivery_batch=None)
        record(
            actor,
            "feed.linked",
            feed,
            account=account.account_id,
            target=target_account_name,
            feed_start_date=feed_start_date.isoformat(),
        )
    return feed


def disable_feed(feed: Feed, *, actor: Actor, at: dt.datetime | None = None) -> bool:
    """QBO disconnected the feed: record `feedDisabledOnUtc` (once). Later writes fail at once;
    the account becomes `disconnected` after the grace period (daily maintenance)."""
    at = at or timezone.now()
    with transaction.atomic():
        changed = Feed.objects.filter(pk=feed.pk, disabled_on_utc__isnull=True).update(
            disabled_on_utc=at
        )
        if changed:
            feed.disabled_on_utc = at
            record(actor, "feed.disabled", feed, at=at.isoformat())
    return bool(changed)


def end_feeds(account: SourceAccount, *, actor: Actor, reason: str) -> int:
    """Stop delivering to QBO for this account (linksite's side; QBO keeps its account)."""
    with transaction.atomic():
        count = Feed.objects.filter(
            source_account=account, disabled_on_utc__isnull=True, ended__isnull=True
        ).update(ended=timezone.now())
        if count:
            record(actor, "feed.ended", account, reason=reason, feeds=count)
    return count
