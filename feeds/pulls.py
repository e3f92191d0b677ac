"""What QBO's pulls through the IDX API (`product.md` §12) read and change: the accounts a
credential set covers, an account's transactions in a window of UTC days, the link a first pull
makes, and the transactions a pull served, marked delivered.

In pull mode QBO never says which of its accounts an account feeds, so a feed made by a pull
has no target account id or name (both empty); its target type follows from the account type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import feed_rules, lifecycle
from feeds.models import (
    STILL_PENDING,
    AccountType,
    BankTransaction,
    CredentialSet,
    DeliveryState,
    Feed,
    FeedDelivery,
    SourceAccount,
    TargetAccountType,
)
from feeds.webhooks import outbox


def covered_accounts(credential_set: CredentialSet) -> QuerySet[SourceAccount]:
    """The accounts QBO may read with this set (those chosen on the Link page), in a stable
    order. As in push mode, a set links an account once: an account whose feed from this set
    was stopped (the client unlinked the connection or deleted the account's feed) is no longer
    offered, rather than linked again by QBO's next pull; new credentials link it anew."""
    stopped = (
        Feed.objects.filter(credential_set=credential_set)
        .exclude(Feed.ACTIVE)
        .exclude(source_account__in=Feed.objects.active().values("source_account"))
        .values("source_account")
    )
    return credential_set.source_accounts.exclude(pk__in=stopped).order_by("created", "id")


def utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def transactions_in_window(
    account: SourceAccount, start: dt.date | None, end: dt.date | None
) -> QuerySet[BankTransaction]:
    """The account's transactions stored on UTC days `start` (included) to `end` (excluded),
    either bound optional. Ordered by when they were stored, then id: a transaction written
    while QBO pages through gets a later time, so it lands after every page already read and
    no page skips or repeats one."""
    rows = BankTransaction.objects.filter(source_account=account)
    if start is not None:
        rows = rows.filter(created__gte=utc_midnight(start))
    if end is not None:
        rows = rows.filter(created__lt=utc_midnight(end))
    return rows.order_by("created", "id")


# What a pull needs of each transaction it serves (`feeds.idx.shapes.transaction_json`) and
# marks (`mark_served`). Read as named rows rather than models: making 2,000 models a page cost
# more than its query (bench/profile_pull.py).
SERVED_FIELDS = (
    "id",
    "transaction_id",
    "cleared_on_date",
    "description",
    "amount",
    "created",
    "delivery_state",
)


def served_page(rows: QuerySet[BankTransaction], number: int, size: int) -> list[Any]:
    """Page `number` (from 1) of `size` of the window's rows, as named rows of SERVED_FIELDS."""
    return list(rows.values_list(*SERVED_FIELDS, named=True)[(number - 1) * size : number * size])


def feed_start_from(start: dt.date | None, today: dt.date | None = None) -> dt.date:
    """The feed start date a first pull records: its startDate brought within the window QBO
    allows (today back to HISTORY_DAYS ago); the earliest day of it when there is none, since
    QBO then reads everything there is."""
    earliest, today = feed_rules.feed_start_window(today)
    if start is None:
        return earliest
    return min(max(start, earliest), today)


def link_on_first_pull(
    account: SourceAccount,
    credential_set: CredentialSet,
    start: dt.date | None,
    *,
    actor: Actor,
) -> Feed | None:
    """QBO's first pull of the account's transactions links it (the account `connected`, the
    connection `Linked`) through `feed_rules.link_feed`; a later pull finds its feed and changes
    nothing. Returns the new feed, or None when there was one already (or the connection
    cannot be linked any more)."""
    if feed_rules.active_feed(account) is not None:
        return None
    kind = (
        TargetAccountType.CREDIT_CARD
        if account.account_type == AccountType.CREDIT_CARD
        else TargetAccountType.BANK
    )
    try:
        with transaction.atomic():
            return feed_rules.link_feed(
                account,
                target_account_id="",
                target_account_name="",
                target_account_type=kind,
                feed_start_date=feed_start_from(start),
                actor=actor,
                credential_set=credential_set,
                delivery=FeedDelivery.PULL,
            )
    except (IntegrityError, lifecycle.IllegalTransition):
        # A concurrent first pull linked it a moment ago, or the connection was closed.
        return None


def record_pull(account: SourceAccount) -> None:
    """QBO pulled the account's transactions now: its pulled feed is alive (`last_pulled`)."""
    Feed.objects.active().filter(source_account=account, delivery=FeedDelivery.PULL).update(
        last_pulled=timezone.now()
    )


def silent_feeds(cutoff: dt.datetime) -> QuerySet[Feed]:
    """Active pulled feeds QBO has not pulled since `cutoff` (nor since they were linked)."""
    return (
        Feed.objects.active()
        .filter(delivery=FeedDelivery.PULL)
        .filter(Q(last_pulled__lte=cutoff) | Q(last_pulled__isnull=True, created__lte=cutoff))
    )


def mark_served(account: SourceAccount, rows: Sequence[Any], *, actor: Actor) -> int:
    """Record that a pull served `rows` (anything with `id` and `delivery_state`: models or
    `served_page`'s rows): those still pending become delivered, with the time they were first
    served. One audit event per pull that delivered something. Returns how many it marked."""
    now = timezone.now()
    pending = [row.id for row in rows if row.delivery_state == DeliveryState.PENDING]
    if not pending:
        return 0
    with transaction.atomic():
        rows = BankTransaction.objects.filter(pk__in=pending)
        by_write = outbox.pending_by_write(rows) if outbox.listening(account.pk) else {}
        count = rows.filter(STILL_PENDING).update(
            delivery_state=DeliveryState.DELIVERED, delivered=now
        )
        if count:
            record(actor, "transactions.pulled", account, count=count)
            outbox.delivered_events(account, by_write, how="pull", at=now)
    return count
