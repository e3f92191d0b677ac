"""Daily maintenance (`product.md` §1 step 7, §10). Safe to run any number of times."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from accounts.audit import Actor, purge_refusals, record
from feeds import feed_rules, idempotency, lifecycle, pulls
from feeds.localtime import next_local_time
from feeds.models import (
    BrowserSession,
    Connection,
    ConnectionStatus,
    CredentialSet,
    Feed,
    FeedPushLock,
    LinkSession,
    ReplayGuard,
    SourceAccount,
    SourceAccountStatus,
)
from feeds.webhooks import sending

# Tallies of refused unauthenticated requests are kept this many days.
REFUSAL_RETENTION_DAYS = 7


def disconnects_on(disabled_on_utc: dt.datetime) -> dt.datetime:
    """When the daily maintenance will disconnect the account of a feed QBO disabled at
    `disabled_on_utc` (unless it is linked again): its first run once
    FEED_DISCONNECT_GRACE_DAYS have passed (the rule below)."""
    due = disabled_on_utc + dt.timedelta(days=settings.FEED_DISCONNECT_GRACE_DAYS)
    return next_local_time(settings.DAILY_MAINTENANCE_TIME, due - dt.timedelta(microseconds=1))


def run_daily_maintenance(now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    actor = Actor.worker()
    summary = {"accounts_disconnected": 0, "connections_unlinked": 0}

    cutoff = now - dt.timedelta(days=settings.FEED_DISCONNECT_GRACE_DAYS)
    # In pull mode QBO never says it disconnected an account: it stops pulling. A pulled feed
    # QBO has been silent on for FEED_DISCONNECT_GRACE_DAYS is disabled as of its last pull,
    # so that the rule below disconnects its account today.
    for feed in pulls.silent_feeds(cutoff):
        feed_rules.disable_feed(feed, actor=actor, at=feed.last_pulled or feed.created)

    # A feed that QBO disabled FEED_DISCONNECT_GRACE_DAYS ago or more, with no newer active feed,
    # leaves its source account `disconnected`.
    active_feed = Feed.objects.active().filter(source_account=OuterRef("pk"))
    stale = (
        SourceAccount.objects.filter(status=SourceAccountStatus.CONNECTED)
        .annotate(last_disabled=Max("feeds__disabled_on_utc"))
        .filter(last_disabled__lte=cutoff)
        .exclude(Exists(active_feed))
    )
    for account in stale:
        try:
            lifecycle.transition(
                account,
                SourceAccountStatus.DISCONNECTED,
                actor=actor,
                reason=f"feed disabled in QBO on {account.last_disabled:%Y-%m-%d %H:%M} UTC",
            )
            summary["accounts_disconnected"] += 1
        except lifecycle.IllegalTransition:
            pass  # changed meanwhile (relinked); nothing to do

    # A linked connection none of whose source accounts is connected any more, and at least one
    # of which is disconnected, becomes `Unlinked` the same day.
    orphaned = (
        Connection.objects.filter(status=ConnectionStatus.LINKED)
        .annotate(
            connected=Count("source_accounts", filter=Q(source_accounts__status="connected")),
            disconnected=Count("source_accounts", filter=Q(source_accounts__status="disconnected")),
        )
        .filter(connected=0, disconnected__gt=0)
    )
    for connection in orphaned:
        try:
            lifecycle.transition(
                connection,
                ConnectionStatus.UNLINKED,
                actor=actor,
                reason="all source accounts disconnected",
            )
            summary["connections_unlinked"] += 1
        except lifecycle.IllegalTransition:
            pass

    # Secrets and sessions past expiry are of no further use.
    summary["link_sessions_purged"] = (
        LinkSession.objects.filter(expires__lt=now).delete()[1].get(LinkSession._meta.label, 0)
    )
    # Browsers' sessions past expiry (Django's `clearsessions`, run here so no cron is needed).
    summary["browser_sessions_purged"] = BrowserSession.objects.filter(
        expire_date__lt=now
    ).delete()[0]
    # A set used near its expiry keeps its QBO link session alive for 30 minutes more.
    expired = CredentialSet.objects.filter(expires__lt=now).exclude(link_session__expires__gte=now)
    if "pull" in settings.QBO_DELIVERY:
        # A set QBO pulls with stays the credential of its pulls until it is revoked.
        expired = expired.exclude(used__isnull=False, revoked__isnull=True)
    summary["credential_sets_purged"] = expired.delete()[1].get(CredentialSet._meta.label, 0)
    summary["idempotency_keys_purged"] = idempotency.purge(now)
    # Request ids older than the protocol's window can no longer be replayed.
    ReplayGuard.objects.filter(seen__lt=now - dt.timedelta(minutes=10)).delete()
    # Push locks of feeds deleted with their source account.
    FeedPushLock.objects.exclude(feed_id__in=Feed.objects.values("pk")).delete()
    summary.update(sending.purge(now))
    summary["refusal_tallies_purged"] = purge_refusals(
        now - dt.timedelta(days=REFUSAL_RETENTION_DAYS)
    )
    if any(summary[k] for k in summary if k.endswith("_purged")):
        record(
            actor,
            "maintenance.purged",
            link_sessions=summary["link_sessions_purged"],
            browser_sessions=summary["browser_sessions_purged"],
            credential_sets=summary["credential_sets_purged"],
            idempotency_keys=summary["idempotency_keys_purged"],
            webhook_deliveries=summary["webhook_deliveries_purged"],
            webhook_events=summary["webhook_events_purged"],
        )
    return summary
