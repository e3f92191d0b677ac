"""The rules of a feed: a source account linked to a QBO target account, and how a feed ends.

`open_link_session` (opened by `credentials.redeem_for_link` in the transaction that spends the
credential set) and `link_planned_feeds` are QBO's link flow (`product.md` §1 step 4, §6):
the accounts a verified credential set offers, then the plan the SMB user made in QBO, checked
whole before anything is linked. `link_feed` links one account; `disable_feed` is a disconnect in
QBO (the account stays `connected` for the grace period, but writes fail at once); `end_feeds` is
linksite stopping feeds itself (the client deleted the account)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import availability, lifecycle
from feeds.models import (
    HISTORY_DAYS,
    BankTransaction,
    ConnectionStatus,
    CredentialSet,
    DeliveryState,
    Feed,
    FeedDelivery,
    FeedPushLock,
    LinkSession,
    SourceAccount,
    SourceAccountStatus,
    TargetAccountType,
)
from feeds.webhooks import catalogue, outbox

# Read once; a tuple, not a set: QBO may send any JSON value (a dict is unhashable).
TARGET_TYPES = tuple(TargetAccountType.values)

LINK_SESSION_LIFETIME = dt.timedelta(minutes=30)


def active_feed(account: SourceAccount) -> Feed | None:
    return account.feeds.active().first()


def link_feed(
    account: SourceAccount,
    *,
    target_account_id: str,
    target_account_name: str,
    target_account_type: str,
    feed_start_date: dt.date,
    actor: Actor,
    credential_set: CredentialSet | None = None,
    delivery: str = FeedDelivery.PUSH,
) -> Feed:
    """Link `account` to a QBO target account: a new feed, the account `connected`, the
    connection `Linked`. Raises `lifecycle.IllegalTransition` for a deauthorized connection.
    `delivery` says whether linksite pushes the feed or QBO pulls it."""
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
            delivery=delivery,
        )
        if delivery == FeedDelivery.PUSH:
            # The row pushers lock on PostgreSQL (`delivery.claim`), made with the feed rather
            # than at its first push.
            FeedPushLock.objects.create(feed_id=feed.pk)
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
            delivery=delivery,
        )
        outbox.account_event(account, catalogue.ACCOUNT_CONNECTED, feedId=feed.pk)
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
            outbox.feed_disabled_event(feed)
    return bool(changed)


def end_feeds(account: SourceAccount, *, actor: Actor, reason: str) -> int:
    """Stop delivering to QBO for this account (linksite's side; QBO keeps its account)."""
    with transaction.atomic():
        count = Feed.objects.active().filter(source_account=account).update(ended=timezone.now())
        if count:
            record(actor, "feed.ended", account, reason=reason, feeds=count)
    return count


# QBO's link flow ---------------------------------------------------------------------------------


def open_link_session(
    credential_set: CredentialSet, *, actor: Actor
) -> tuple[LinkSession, list[SourceAccount]]:
    """After QBO verified a credential set: the session QBO links within, and the accounts it
    offers (those the set covers that have no active feed)."""
    with transaction.atomic():
        session = LinkSession.objects.create(
            credential_set=credential_set,
            connection=credential_set.connection,
            expires=timezone.now() + LINK_SESSION_LIFETIME,
        )
        accounts = [
            a
            for a in credential_set.source_accounts.prefetch_related("feeds")
            if not any(f.is_active for f in a.feeds.all())
        ]
        record(
            actor,
            "qbo.link_session_opened",
            credential_set.connection,
            accounts=[a.account_id for a in accounts],
        )
    return session, accounts


class LinkRefused(Exception):
    """The link plan (or its session) was refused; nothing was linked. `code` is stable (QBO's
    answers carry it) and the message names the item that was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class LinkPlan:
    account: SourceAccount
    target_account_id: str
    target_account_name: str
    target_account_type: str
    feed_start_date: dt.date


def feed_start_window(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The feed start dates QBO may choose: today back to HISTORY_DAYS ago (local dates)."""
    today = today or timezone.localdate()
    return today - dt.timedelta(days=HISTORY_DAYS), today


def link_session_or_refuse(session_id: Any) -> LinkSession:
    """The link session QBO names, still open; else LinkRefused."""
    session = (
        LinkSession.objects.select_related("credential_set", "connection__company")
        .filter(pk=str(session_id or "")[:40])
        .first()
    )
    if session is None or session.expires <= timezone.now():
        raise LinkRefused("invalid_session", "The link session is unknown or has expired.")
    if session.completed is not None:
        raise LinkRefused("session_used", "This link session was already used to link feeds.")
    if availability.is_deauthorized(session.connection):
        raise LinkRefused("connection_closed", "The bank closed this connection.")
    return session


def plan_links(session: LinkSession, items: Any) -> list[LinkPlan]:
    """Check QBO's plan whole (one target per account, one feed per target, a start date in the
    window, only accounts of the session that have no active feed) before anything is linked."""
    if not isinstance(items, list) or not items:
        raise LinkRefused("bad_request", "feeds must be a non-empty array.")
    offered = {
        a.account_id: a for a in session.credential_set.source_accounts.prefetch_related("feeds")
    }
    earliest, today = feed_start_window()
    plans: list[LinkPlan] = []
    seen: set[str] = set()
    targets: set[str] = set()
    for index, item in enumerate(items):
        where = f"feeds[{index}]"
        if not isinstance(item, dict):
            raise LinkRefused("bad_request", f"{where} must be an object.")
        source = item.get("sourceAccountId")
        account = offered.get(source) if isinstance(source, str) else None
        if account is None:
            raise LinkRefused(
                "account_not_in_session", f"{where}.sourceAccountId is not in this session."
            )
        if source in seen:
            raise LinkRefused(
                "duplicate_source_account", f"{where}: one target per source account."
            )
        seen.add(source)
        if any(f.is_active for f in account.feeds.all()):
            raise LinkRefused("already_linked", f"{where}: {source!r} is already linked.")
        target_id, target_name = item.get("targetAccountId"), item.get("targetAccountName")
        if not isinstance(target_id, str) or not 1 <= len(target_id) <= 100:
            raise LinkRefused("bad_request", f"{where}.targetAccountId is required.")
        if target_id in targets:
            raise LinkRefused(
                "duplicate_target_account", f"{where}: a target account receives one feed."
            )
        targets.add(target_id)
        if not isinstance(target_name, str) or not 1 <= len(target_name.strip()) <= 200:
            raise LinkRefused("bad_request", f"{where}.targetAccountName is required.")
        kind = item.get("targetAccountType")
        if kind not in TARGET_TYPES:
            raise LinkRefused(
                "bad_request", f"{where}.targetAccountType must be Bank or CreditCard."
            )
        try:
            start = dt.date.fromisoformat(str(item.get("feedStartDate")))
        except ValueError:
            raise LinkRefused("bad_request", f"{where}.feedStartDate must be YYYY-MM-DD.") from None
        if not earliest <= start <= today:
            raise LinkRefused(
                "feed_start_date_out_of_range",
                f"{where}.feedStartDate must be between {earliest} and {today}.",
            )
        plans.append(LinkPlan(account, target_id, target_name.strip(), kind, start))
    return plans


def link_planned_feeds(
    session: LinkSession, items: Any, *, actor: Actor
) -> list[tuple[SourceAccount, Feed]]:
    """Spend the session on QBO's plan: every account linked, or none (LinkRefused)."""
    plans = plan_links(session, items)
    try:
        with transaction.atomic():
            taken = LinkSession.objects.filter(pk=session.pk, completed__isnull=True).update(
                completed=timezone.now()
            )
            if not taken:
                raise LinkRefused("session_used", "This link session was already used.")
            linked = []
            for plan in plans:
                # One connection object for all, so that it turns Linked once.
                plan.account.connection = session.connection
                feed = link_feed(
                    plan.account,
                    target_account_id=plan.target_account_id,
                    target_account_name=plan.target_account_name,
                    target_account_type=plan.target_account_type,
                    feed_start_date=plan.feed_start_date,
                    actor=actor,
                    credential_set=session.credential_set,
                )
                linked.append((plan.account, feed))
    except (IntegrityError, lifecycle.IllegalTransition):
        # Another session linked one of these accounts meanwhile, or the connection closed.
        raise LinkRefused(
            "already_linked", "An account was linked meanwhile; nothing was changed."
        ) from None
    return linked
