"""The operator's dashboard (issue 19): what needs attention, delivery over the last 30 days, the
funnel from connection to first delivery, and one company's drill-down.

Each attention rule is a queryset here, used both for its count on the dashboard and by the
filtered admin list its count links to (`ATTENTION`, `attention_queryset`). The daily delivery
figures are kept by the worker in `DeliveryDay` rows (`refresh_days`), because counting and
ranking every transaction of 30 days on each visit would cost the page the size of the table;
everything else is read live, by a few grouped queries over indexed columns, so the page's query
count is the same for 5 companies as for 5,000."""

from __future__ import annotations

import datetime as dt
import socket
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Company
from feeds import maintenance
from feeds.models import (
    BankTransaction,
    Connection,
    ConnectionStatus,
    CredentialSet,
    DeliveryBatch,
    DeliveryDay,
    DeliveryState,
    DeliveryStatus,
    Feed,
    SourceAccount,
    SourceAccountStatus,
    WebhookEndpoint,
    WebhookEvent,
    WorkerHeartbeat,
)

WINDOW_DAYS = 30
# A connection still waiting for its SMB user this long needs a nudge.
PENDING_AUTH_AFTER = dt.timedelta(days=7)
# The worker's heartbeat, scheduled every minute (`feeds.schedules`): late once two beats are
# missed. The worker computes today's figures every few minutes too (and the operator can ask
# for them at once).
HEARTBEAT = "cluster"
HEARTBEAT_MINUTES = 1
HEARTBEAT_EVERY = dt.timedelta(minutes=HEARTBEAT_MINUTES)
HEARTBEAT_LATE = 3 * HEARTBEAT_EVERY
REFRESH_MINUTES = 5
# A day's figures are final once computed this long after its end (writes and deliveries that
# were running at midnight have committed).
FINAL_AFTER = dt.timedelta(hours=1)
# The feeds listed with the day they become disconnected (the count has them all).
GRACE_LISTED = 10


def _tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=_tz())


# Needs attention ----------------------------------------------------------------------------


def failing_feeds(now: dt.datetime | None = None) -> QuerySet[Feed]:
    """Active feeds whose last delivery (their newest batch) failed or was rejected by QBO."""
    last = (
        DeliveryBatch.objects.filter(feed=OuterRef("pk")).order_by("-sequence").values("status")[:1]
    )
    return (
        Feed.objects.active()
        .annotate(last_status=Subquery(last))
        .filter(last_status__in=[DeliveryStatus.FAILED, DeliveryStatus.REJECTED])
    )


def batches_awaiting_retry(now: dt.datetime | None = None) -> QuerySet[DeliveryBatch]:
    """Batches QBO rejected: they hold their feed until an operator retries them."""
    return DeliveryBatch.objects.filter(status=DeliveryStatus.REJECTED)


def feeds_in_grace(now: dt.datetime | None = None) -> QuerySet[Feed]:
    """Feeds QBO disabled less than FEED_DISCONNECT_GRACE_DAYS ago whose account is still
    connected and not linked again: the daily maintenance will disconnect the account
    (`maintenance.disconnects_on`)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.FEED_DISCONNECT_GRACE_DAYS)
    relinked = Feed.objects.active().filter(source_account=OuterRef("source_account"))
    return Feed.objects.filter(
        disabled_on_utc__gt=cutoff,
        source_account__status=SourceAccountStatus.CONNECTED,
    ).exclude(Exists(relinked))


def locked_credentials(now: dt.datetime | None = None) -> QuerySet[CredentialSet]:
    """Credential sets locked by too many wrong passwords (and neither used nor revoked)."""
    return CredentialSet.objects.filter(
        locked__isnull=False, used__isnull=True, revoked__isnull=True
    )


def stale_pending_auth(now: dt.datetime | None = None) -> QuerySet[Connection]:
    """Connections still `PendingAuth` more than a week after they were made."""
    now = now or timezone.now()
    return Connection.objects.filter(
        status=ConnectionStatus.PENDING_AUTH,
        deleted__isnull=True,
        created__lt=now - PENDING_AUTH_AFTER,
    )


def troubled_endpoints(now: dt.datetime | None = None) -> QuerySet[WebhookEndpoint]:
    """Webhook endpoints whose deliveries are failing, or that are disabled."""
    return WebhookEndpoint.objects.filter(Q(failing_since__isnull=False) | Q(disabled=True))


@dataclass(frozen=True)
class Rule:
    key: str
    model: type[models.Model]
    label: Any  # lazy: in the request's language
    queryset: Callable[[dt.datetime | None], QuerySet]


# In the order the dashboard shows them. Each key is also the value of its admin list's
# "attention" filter (`feeds.admin.AttentionFilter`).
ATTENTION = [
    Rule(
        "failing_feeds",
        Feed,
        _("Feeds whose last delivery failed or was rejected"),
        failing_feeds,
    ),
    Rule(
        "awaiting_retry",
        DeliveryBatch,
        _("Batches waiting for an operator retry"),
        batches_awaiting_retry,
    ),
    Rule(
        "in_grace",
        Feed,
        _("Feeds disabled in QuickBooks, account not yet disconnected"),
        feeds_in_grace,
    ),
    Rule(
        "locked_credentials",
        CredentialSet,
        _("Locked credential sets"),
        locked_credentials,
    ),
    Rule(
        "pending_auth",
        Connection,
        _("Connections pending authorization for more than a week"),
        stale_pending_auth,
    ),
    Rule(
        "webhook_endpoints",
        WebhookEndpoint,
        _("Webhook endpoints failing or disabled"),
        troubled_endpoints,
    ),
]
RULES = {rule.key: rule for rule in ATTENTION}


def rules_for(model: type[models.Model]) -> list[Rule]:
    return [rule for rule in ATTENTION if rule.model is model]


def attention_queryset(key: str, queryset: QuerySet, now: dt.datetime | None = None) -> QuerySet:
    """`queryset` (an admin list's) narrowed to what rule `key` finds."""
    rule = RULES[key]
    return queryset.filter(pk__in=rule.queryset(now).values("pk"))


@dataclass(frozen=True)
class Attention:
    rule: Rule
    count: int


@dataclass(frozen=True)
class GraceFeed:
    feed_id: str
    account_name: str
    company_name: str
    company_id: Any
    disabled_on_utc: dt.datetime
    disconnects_on: dt.date


@dataclass(frozen=True)
class WorkerState:
    last_seen: dt.datetime | None
    late: bool
    host: str


def attention(now: dt.datetime | None = None) -> list[Attention]:
    """Each rule's count, one query each."""
    now = now or timezone.now()
    return [Attention(rule, rule.queryset(now).count()) for rule in ATTENTION]


def grace_feeds(now: dt.datetime | None = None, limit: int = GRACE_LISTED) -> list[GraceFeed]:
    """The feeds in their grace period, the soonest to disconnect first (one query)."""
    now = now or timezone.now()
    rows = (
        feeds_in_grace(now)
        .order_by("disabled_on_utc", "id")
        .values_list(
            "id",
            "source_account__account_name",
            "source_account__connection__company__name",
            "source_account__connection__company_id",
            "disabled_on_utc",
        )[:limit]
    )
    return [
        GraceFeed(*row, disconnects_on=maintenance.disconnects_on(row[-1]).astimezone(_tz()).date())
        for row in rows
    ]


def worker(now: dt.datetime | None = None) -> WorkerState:
    now = now or timezone.now()
    beat = WorkerHeartbeat.objects.filter(name=HEARTBEAT).first()
    if beat is None:
        return WorkerState(None, True, "")
    allowed = max(HEARTBEAT_LATE, 3 * dt.timedelta(seconds=beat.every_seconds))
    return WorkerState(beat.last_seen, now - beat.last_seen > allowed, beat.host)


def beat(now: dt.datetime | None = None) -> None:
    """The worker's heartbeat (the task `feeds.tasks.heartbeat`)."""
    WorkerHeartbeat.objects.update_or_create(
        name=HEARTBEAT,
        defaults={
            "last_seen": now or timezone.now(),
            "every_seconds": int(HEARTBEAT_EVERY.total_seconds()),
            "host": socket.gethostname()[:200],
        },
    )


# Delivery over the last 30 days ------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: dt.date
    written: int
    delivered: int
    failures: int
    latency_p50: float | None
    latency_p95: float | None
    computed: dt.datetime | None  # None: not computed yet


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest: dt.datetime | None

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return now - self.oldest if self.oldest else None


def window(now: dt.datetime | None = None) -> list[dt.date]:
    """The last WINDOW_DAYS days in TIME_ZONE, today last."""
    today = (now or timezone.now()).astimezone(_tz()).date()
    return [today - dt.timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]


def days(now: dt.datetime | None = None) -> list[Day]:
    """The window's figures as the worker last computed them (one query); a day it has not
    computed yet reads as zeros with `computed` None."""
    dates = window(now)
    rows = {row.day: row for row in DeliveryDay.objects.filter(day__gte=dates[0])}
    result = []
    for day in dates:
        row = rows.get(day)
        if row is None:
            result.append(Day(day, 0, 0, 0, None, None, None))
        else:
            result.append(
                Day(
                    day,
                    row.written,
                    row.delivered,
                    row.failures,
                    row.latency_p50,
                    row.latency_p95,
                    row.computed,
                )
            )
    return result


def backlog() -> Backlog:
    """Pending transactions of active feeds and when the first of them still pending was
    written (ids follow the order rows were written in): counted from the index of pending
    rows alone, without reading the rows, then that one row by its key. Two queries, over the
    pending rows only."""
    # IN, not a correlated EXISTS: SQLite ran that once a pending row.
    active = Feed.objects.active().values("source_account")
    figures = BankTransaction.objects.filter(
        source_account__in=active, delivery_state=DeliveryState.PENDING
    ).aggregate(pending=Count("pk"), first=Min("pk"))
    oldest = None
    if figures["first"] is not None:
        oldest = (
            BankTransaction.objects.filter(pk=figures["first"])
            .values_list("created", flat=True)
            .first()
        )
    return Backlog(figures["pending"], oldest)


class Seconds(models.Func):
    """Seconds from one datetime column to another, computed by the database."""

    output_field = models.FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))::double precision"
    arg_joiner = " - "

    def __init__(self, start: str, end: str) -> None:
        super().__init__(F(end), F(start))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((JULIANDAY(%(expressions)s)) * 86400.0)",
            arg_joiner=") - JULIANDAY(",
            **extra,
        )


def _by_day(queryset: QuerySet, column: str, since: dt.datetime) -> dict[dt.date, int]:
    rows = (
        queryset.filter(**{f"{column}__gte": since})
        .annotate(day=TruncDate(column, tzinfo=_tz()))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return dict(rows)


def _percentiles(since: dt.datetime) -> dict[dt.date, tuple[float, float]]:
    """Per day of delivery, the median and 95th percentile of the time from write to delivery
    (nearest rank: the value at rank ceil(n × p)), ranked by the database."""
    day = TruncDate("delivered", tzinfo=_tz())
    ranked = (
        BankTransaction.objects.filter(delivered__gte=since)
        .annotate(
            day=day,
            seconds=Seconds("created", "delivered"),
            rank=Window(RowNumber(), partition_by=[day], order_by=[F("seconds").asc(), "pk"]),
            n=Window(Count("pk"), partition_by=[day]),
        )
        .order_by()
        .values_list("day", "rank", "n", "seconds")
    )
    found: dict[dt.date, dict[int, float]] = {}
    wanted: dict[dt.date, tuple[int, int]] = {}
    # Only the two ranks of each day are kept (the ranking itself stays in the database, which
    # hands back every row: a filter on a window is a subquery Django writes for us).
    ranked = ranked.filter(Q(rank=(F("n") * 50 + 99) / 100) | Q(rank=(F("n") * 95 + 99) / 100))
    for row_day, rank, n, seconds in ranked:
        wanted[row_day] = ((n * 50 + 99) // 100, (n * 95 + 99) // 100)
        found.setdefault(row_day, {})[rank] = max(0.0, seconds)
    return {
        d: (found[d][p50], found[d][p95]) for d, (p50, p95) in wanted.items() if p95 in found[d]
    }


def refresh_days(now: dt.datetime | None = None) -> int:
    """Compute the figures of every day of the window not final yet (today, and yesterday
    until an hour after midnight; all 30 the first time), a few grouped queries over the
    rows since the earliest of them. Returns how many days were computed."""
    now = now or timezone.now()
    dates = window(now)
    final = set(
        DeliveryDay.objects.filter(day__gte=dates[0], final=True).values_list("day", flat=True)
    )
    todo = [day for day in dates if day not in final]
    if not todo:
        return 0
    since = local_day_start(todo[0])
    written = _by_day(BankTransaction.objects.all(), "created", since)
    delivered = _by_day(BankTransaction.objects.all(), "delivered", since)
    failures = _by_day(
        AuditEvent.objects.filter(
            action="deliverybatch.status",
            data__to__in=[DeliveryStatus.FAILED, DeliveryStatus.REJECTED],
        ),
        "created",
        since,
    )
    latency = _percentiles(since)
    for day in todo:
        p50, p95 = latency.get(day, (None, None))
        DeliveryDay.objects.update_or_create(
            day=day,
            defaults={
                "written": written.get(day, 0),
                "delivered": delivered.get(day, 0),
                "failures": failures.get(day, 0),
                "latency_p50": p50,
                "latency_p95": p95,
                "computed": now,
                "final": now >= local_day_start(day + dt.timedelta(days=1)) + FINAL_AFTER,
            },
        )
    DeliveryDay.objects.filter(day__lt=dates[0]).delete()
    return len(todo)


# Funnel -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    created: int
    credentials: int
    linked: int
    delivered: int


def funnel(now: dt.datetime | None = None) -> Funnel:
    """Connections made in the last 30 days, and how many of them got credentials, were
    linked in QBO, and had a first transaction delivered (one query)."""
    now = now or timezone.now()
    connection = OuterRef("pk")
    # Account by account, each probed on its own index (one EXISTS over the transactions joined
    # to the accounts made PostgreSQL hash every delivered row: 18 ms at 500,000).
    delivered = SourceAccount.objects.filter(connection=connection).filter(
        Exists(
            BankTransaction.objects.filter(
                source_account=OuterRef("pk"), delivery_state=DeliveryState.DELIVERED
            )
        )
    )
    figures = Connection.objects.filter(
        created__gte=now - dt.timedelta(days=WINDOW_DAYS)
    ).aggregate(
        created=Count("pk"),
        credentials=Count(
            "pk", filter=Q(Exists(CredentialSet.objects.filter(connection=connection)))
        ),
        linked=Count(
            "pk", filter=Q(Exists(Feed.objects.filter(source_account__connection=connection)))
        ),
        delivered=Count("pk", filter=Q(Exists(delivered))),
    )
    return Funnel(**figures)


# One company ---------------------------------------------------------------------------------


@dataclass
class CompanyDetail:
    company: Company
    connections: list[Connection]
    accounts: list[SourceAccount]
    feeds: list[Feed]
    batches: list[DeliveryBatch]
    events: list[AuditEvent]
    webhook_events: list[WebhookEvent]


RECENT = 20


def pending_transactions() -> Subquery:
    """For an annotation on feeds: how many of its account's transactions are pending."""
    return Subquery(
        BankTransaction.objects.filter(
            source_account=OuterRef("source_account"), delivery_state=DeliveryState.PENDING
        )
        .order_by()
        .values("source_account")
        .annotate(n=Count("pk"))
        .values("n")
    )


def company_detail(company: Company) -> CompanyDetail:
    """A company's connections, accounts, feeds, last deliveries and events: one query each,
    however many it has (the lists of deliveries and events are the newest RECENT)."""
    last = DeliveryBatch.objects.filter(feed=OuterRef("pk")).order_by("-sequence")
    return CompanyDetail(
        company=company,
        connections=list(
            Connection.objects.filter(company=company)
            .annotate(account_count=Count("source_accounts"))
            .order_by("-created")
        ),
        accounts=list(
            SourceAccount.objects.filter(connection__company=company).order_by(
                "connection__created", "created", "id"
            )
        ),
        feeds=list(
            Feed.objects.filter(source_account__connection__company=company)
            .select_related("source_account")
            .annotate(
                last_status=Subquery(last.values("status")[:1]),
                last_error=Subquery(last.values("last_error")[:1]),
                pending_transactions=pending_transactions(),
            )
            .order_by("-created")
        ),
        batches=list(
            DeliveryBatch.objects.filter(feed__source_account__connection__company=company)
            .select_related("feed__source_account")
            .order_by("-created", "-id")[:RECENT]
        ),
        events=list(AuditEvent.objects.filter(company_id=company.pk).order_by("-created")[:RECENT]),
        webhook_events=list(
            WebhookEvent.objects.filter(company_id=company.pk).order_by("-generated")[:RECENT]
        ),
    )
