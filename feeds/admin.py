"""Operator admin for connections, source accounts, feeds, credentials and deliveries.

Statuses are read-only fields here: they change only through actions that call
`feeds.lifecycle.transition`, so every change is checked and audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin import ReadOnlyAdmin, ReadOnlyInline
from accounts.audit import Actor, record
from feeds import connection_rules, credentials, lifecycle, tasks
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    DeliveryBatch,
    DeliveryState,
    DeliveryStatus,
    Feed,
    FeedDelivery,
    LinkSession,
    PushOperation,
    SourceAccount,
)


def _apply(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: QuerySet,
    to: str | Callable[..., Any],
    **updates: Any,
) -> None:
    """Move each object to the status `to`, or through the domain function `to`; report how
    many moved and which could not."""
    done, refused = 0, []
    actor = Actor.operator(request.user)
    for obj in objects:
        try:
            if not callable(to):
                lifecycle.transition(obj, to, actor=actor, reason="admin action", updates=updates)
            elif to(obj, actor=actor, reason="admin action") is False:
                continue  # nothing to do (already so)
            done += 1
        except lifecycle.IllegalTransition as exc:
            refused.append(str(exc))
    if done:
        model_admin.message_user(
            request,
            ngettext("%(n)d item changed.", "%(n)d items changed.", done) % {"n": done},
            messages.SUCCESS,
        )
    for reason in refused:
        model_admin.message_user(request, reason, messages.WARNING)


class SourceAccountInline(ReadOnlyInline):
    model = SourceAccount
    fields = ["account_id", "account_name", "account_type", "currency", "balance", "status"]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "company", "status", "n_accounts", "created", "modified", "deleted"]
    list_filter = ["status", "company__country", ("deleted", admin.EmptyFieldListFilter)]
    list_select_related = ["company"]
    search_fields = ["=id", "company__name", "=company__id"]
    readonly_fields = ["id", "status", "created", "modified", "deleted"]
    fields = ["id", "company", "status", "created", "modified", "deleted"]
    autocomplete_fields = ["company"]
    inlines = [SourceAccountInline]
    actions = ["unlink", "deauthorize"]
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return super().get_queryset(request).annotate(account_count=Count("source_accounts"))

    @admin.display(description=_("source accounts"), ordering="account_count")
    def n_accounts(self, obj: Connection) -> int:
        return obj.account_count

    @admin.action(description=_("Unlink selected connections"))
    def unlink(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        _apply(self, request, queryset, connection_rules.unlink)

    @admin.action(description=_("Deauthorize selected connections"))
    def deauthorize(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        # As the API's delete: Link URLs and unused credentials stop working too.
        _apply(self, request, queryset, connection_rules.deauthorize)


class FeedInline(ReadOnlyInline):
    model = Feed
    fields = ["id", "target_account_name", "feed_start_date", "created", "disabled_on_utc", "ended"]


@admin.register(SourceAccount)
class SourceAccountAdmin(admin.ModelAdmin):
    list_display = [
        "account_name",
        "account_id",
        "company",
        "account_type",
        "currency",
        "balance",
        "status",
        "feed_start_date",
        "target_account",
        "feed_disabled",
    ]
    list_filter = ["status", "account_type", "currency"]
    list_select_related = ["connection__company"]
    search_fields = ["account_id", "account_name", "connection__company__name", "=connection__id"]
    readonly_fields = [
        "connection",
        "account_id",
        "routing_info",
        "account_info",
        "status",
        "created",
        "modified",
    ]
    fields = [
        "connection",
        "account_id",
        "account_name",
        "account_type",
        "account_number",
        "routing_number",
        "sort_code",
        "routing_info",
        "account_info",
        "currency",
        "balance",
        "status",
        "created",
        "modified",
    ]
    inlines = [FeedInline]
    autocomplete_fields = ["connection"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["status", "created", "modified"]
        return self.readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[SourceAccount]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "feeds", queryset=Feed.objects.order_by("-created"), to_attr="feeds_newest"
                )
            )
        )

    def _feed(self, obj: SourceAccount) -> Feed | None:
        feeds = getattr(obj, "feeds_newest", None)
        return feeds[0] if feeds else None

    @admin.display(description=_("company"), ordering="connection__company__name")
    def company(self, obj: SourceAccount) -> str:
        return obj.connection.company.name

    @admin.display(description=_("feed start date"))
    def feed_start_date(self, obj: SourceAccount) -> Any:
        feed = self._feed(obj)
        return feed.feed_start_date if feed else None

    @admin.display(description=_("target account"))
    def target_account(self, obj: SourceAccount) -> str:
        feed = self._feed(obj)
        return feed.target_account_name if feed else ""

    @admin.display(description=_("feed disabled in QBO"))
    def feed_disabled(self, obj: SourceAccount) -> Any:
        feed = self._feed(obj)
        return feed.disabled_on_utc if feed else None


@admin.register(Feed)
class FeedAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "source_account",
        "target_account_name",
        "delivery",
        "feed_start_date",
        "created",
        "disabled_on_utc",
        "ended",
        "pending_count",
        "last_delivery",
        "last_error",
    ]
    list_filter = [
        "delivery",
        "target_account_type",
        ("disabled_on_utc", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["source_account"]
    search_fields = ["=id", "source_account__account_id", "target_account_name"]
    actions = ["push_now"]
    fields = [
        "id",
        "source_account",
        "credential_set",
        "target_account_id",
        "target_account_name",
        "target_account_type",
        "delivery",
        "feed_start_date",
        "created",
        "last_pulled",
        "disabled_on_utc",
        "ended",
        "pending_count",
        "last_delivery",
        "last_error",
    ]
    readonly_fields = ["pending_count", "last_delivery", "last_error"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feed]:
        # One query for the page, whatever the number of feeds on it.
        pending = (
            BankTransaction.objects.filter(
                source_account=OuterRef("source_account"), delivery_state=DeliveryState.PENDING
            )
            .order_by()
            .values("source_account")
            .annotate(n=Count("pk"))
            .values("n")
        )
        batches = DeliveryBatch.objects.filter(feed=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_transactions=Subquery(pending),
                last_delivered=Subquery(
                    batches.filter(status=DeliveryStatus.DELIVERED)
                    .order_by("-delivered")
                    .values("delivered")[:1]
                ),
                open_error=Subquery(
                    batches.exclude(status=DeliveryStatus.DELIVERED)
                    .exclude(last_error="")
                    .order_by("-last_attempt")
                    .values("last_error")[:1]
                ),
            )
        )

    @admin.display(description=_("pending transactions"), ordering="pending_transactions")
    def pending_count(self, obj: Feed) -> int:
        return obj.pending_transactions or 0

    @admin.display(description=_("last delivery"), ordering="last_delivered")
    def last_delivery(self, obj: Feed) -> Any:
        return obj.last_delivered

    @admin.display(description=_("last error"))
    def last_error(self, obj: Feed) -> str:
        """The error of a batch still waiting (failed, or rejected by QBO); none once it went."""
        return Truncator(obj.open_error or "").chars(120)

    @admin.action(description=_("Push selected feeds to QuickBooks now"))
    def push_now(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        active = queryset.active().filter(delivery=FeedDelivery.PUSH)  # QBO pulls the others
        for feed in active:
            tasks.queue_push(feed.pk, "admin")
            record(Actor.operator(request.user), "delivery.push_requested", feed)
        self.message_user(
            request,
            ngettext(
                "%(count)d feed queued for delivery.",
                "%(count)d feeds queued for delivery.",
                active.count(),
            )
            % {"count": active.count()},
        )


@admin.register(CredentialSet)
class CredentialSetAdmin(ReadOnlyAdmin):
    """Never shows a secret: the password hash is not a field here."""

    list_display = [
        "username",
        "connection",
        "origin",
        "state",
        "created",
        "expires",
        "failed_attempts",
    ]
    list_filter = [
        "origin",
        ("used", admin.EmptyFieldListFilter),
        ("revoked", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["connection__company"]
    search_fields = ["username", "=connection__id", "connection__company__name"]
    fields = [
        "username",
        "connection",
        "origin",
        "source_accounts",
        "created",
        "expires",
        "used",
        "revoked",
        "failed_attempts",
        "locked",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("state"))
    def state(self, obj: CredentialSet) -> str:
        return obj.state

    @admin.action(description=_("Revoke selected credential sets"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[CredentialSet]) -> None:
        count = credentials.revoke(queryset, actor=Actor.operator(request.user))
        self.message_user(
            request,
            ngettext("%(n)d credential set revoked.", "%(n)d credential sets revoked.", count)
            % {"n": count},
            messages.SUCCESS,
        )


@admin.register(LinkSession)
class LinkSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "connection", "created", "expires", "completed"]
    list_select_related = ["connection__company"]
    search_fields = ["=connection__id"]


@admin.register(BankTransaction)
class BankTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "transaction_id",
        "source_account",
        "cleared_on_date",
        "amount",
        "transaction_type",
        "description",
        "delivery_state",
        "delivered",
    ]
    list_filter = ["delivery_state", "transaction_type"]
    list_select_related = ["source_account"]
    search_fields = ["=transaction_id", "=source_account__account_id", "=push_operation__key"]
    date_hierarchy = "cleared_on_date"
    show_full_result_count = False
    raw_id_fields = ["source_account", "push_operation", "delivery_batch"]


@admin.register(PushOperation)
class PushOperationAdmin(ReadOnlyAdmin):
    list_display = [
        "key",
        "company",
        "account_id",
        "status",
        "transaction_count",
        "requested_on_utc",
        "completed_on_utc",
    ]
    list_filter = ["status"]
    list_select_related = ["company"]
    search_fields = ["=key", "=account_id", "company__name"]
    date_hierarchy = "requested_on_utc"
    show_full_result_count = False


@admin.register(DeliveryBatch)
class DeliveryBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "batch_id",
        "feed",
        "trigger",
        "status",
        "transaction_count",
        "attempts",
        "last_attempt",
        "next_attempt",
        "delivered",
        "last_error",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["feed"]
    search_fields = ["=batch_id", "=feed__id"]
    date_hierarchy = "created"
    actions = ["retry"]

    @admin.action(description=_("Retry selected failed or rejected batches"))
    def retry(self, request: HttpRequest, queryset: QuerySet[DeliveryBatch]) -> None:
        retryable = queryset.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.REJECTED])
        feeds = set(retryable.values_list("feed_id", flat=True))
        _apply(self, request, retryable, DeliveryStatus.PENDING, next_attempt=timezone.now())
        for feed_id in feeds:
            tasks.queue_push(feed_id, "admin")
