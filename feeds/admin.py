"""Operator admin for connections, source accounts, feeds, credentials, deliveries and
webhooks.

Statuses are read-only fields here: they change only through actions that call
`feeds.lifecycle.transition`, so every change is checked and audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator, format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.admin import ModelAdmin, ReadOnlyAdmin, ReadOnlyInline, secret_shown_once
from accounts.audit import Actor, record
from feeds import connection_rules, credentials, dashboard, lifecycle, tasks
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    DeliveryBatch,
    DeliveryDay,
    DeliveryStatus,
    Feed,
    FeedDelivery,
    LinkSession,
    PushOperation,
    SourceAccount,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
    WorkerHeartbeat,
)
from feeds.webhooks import catalogue, endpoints


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


class AttentionFilter(admin.SimpleListFilter):
    """The dashboard's "needs attention" rules for this list (`feeds.dashboard.ATTENTION`): each
    count on the dashboard links here, filtered by the same rule."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(rule.key, rule.label) for rule in dashboard.rules_for(model_admin.model)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        rule = dashboard.RULES.get(self.value() or "")
        if rule is None or rule.model is not queryset.model:
            return queryset
        return dashboard.attention_queryset(rule.key, queryset)


@admin.register(Connection)
class ConnectionAdmin(ModelAdmin):
    list_display = ["id", "company", "status", "n_accounts", "created", "modified", "deleted"]
    list_filter = [
        AttentionFilter,
        "status",
        "company__country",
        ("deleted", admin.EmptyFieldListFilter),
    ]
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
class SourceAccountAdmin(ModelAdmin):
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
        AttentionFilter,
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
        batches = DeliveryBatch.objects.filter(feed=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_transactions=dashboard.pending_transactions(),
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
        AttentionFilter,
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
    list_filter = [AttentionFilter, "status", "trigger"]
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


# Webhooks ------------------------------------------------------------------------------------
# Every change goes through `feeds.webhooks.endpoints`, as the API's do: the same rules, the
# same audit. A signing secret is shown once, on the page after a creation or a rotation.

# The domain names fields as the API does; the form as the model does.
_FORM_FIELD = {"url": "url", "eventTypes": "event_types", "companyTags": "company_tags"}
RECENT_DELIVERIES = 50


def _event_type_choices() -> list[tuple[str, Any]]:
    return [
        (name, format_lazy("{} — {}", name, description))
        for name, description in catalogue.EVENT_TYPES.items()
    ]


class CompanyTagsField(forms.CharField):
    """key:value tags, one a line or separated by commas; a list once cleaned."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [tag.strip() for tag in re.split(r"[,\n]", text) if tag.strip()]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.CharField(
        label=WebhookEndpoint._meta.get_field("url").verbose_name,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "vURLField", "size": 80}),
        help_text=_("An https:// address on the public internet."),
    )
    event_types = forms.MultipleChoiceField(
        label=WebhookEndpoint._meta.get_field("event_types").verbose_name,
        choices=_event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: every event type, including those added later."),
    )
    company_tags = CompanyTagsField(
        label=WebhookEndpoint._meta.get_field("company_tags").verbose_name,
        required=False,
        help_text=_(
            "Tags key:value, one a line or separated by commas: only events of companies with "
            "one of these tags are sent. Empty: every company."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["client", "url", "event_types", "company_tags", "disabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaners = {
            "url": endpoints.clean_url,
            "event_types": endpoints.clean_event_types,
            "company_tags": endpoints.clean_company_tags,
        }
        for name, cleaner in cleaners.items():
            if name in cleaned:
                try:
                    cleaned[name] = cleaner(cleaned[name])
                except endpoints.EndpointRefused as exc:
                    self.add_error(_FORM_FIELD.get(exc.field, name), exc.message)
        client = cleaned.get("client")
        # As `endpoints.create` refuses it, but shown on the form.
        if (
            self.instance._state.adding
            and client is not None
            and WebhookEndpoint.objects.filter(client=client).count() >= endpoints.MAX_ENDPOINTS
        ):
            self.add_error(
                "url",
                _("An API client has at most %(max)s endpoints.")
                % {"max": endpoints.MAX_ENDPOINTS},
            )
        return cleaned


class WebhookFailingFilter(admin.SimpleListFilter):
    title = _("delivery health")
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("disabled_by_linksite", _("disabled by linksite (failing)")),
            ("failing", _("failing now")),
            ("healthy", _("not failing")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "disabled_by_linksite":
            return queryset.filter(disabled=True).exclude(disabled_reason="")
        if self.value() == "failing":
            return queryset.filter(failing_since__isnull=False)
        if self.value() == "healthy":
            return queryset.filter(failing_since__isnull=True)
        return queryset


def disabled_by_linksite() -> QuerySet[WebhookEndpoint]:
    """Endpoints linksite disabled because every delivery to them failed for days."""
    return (
        WebhookEndpoint.objects.filter(disabled=True)
        .exclude(disabled_reason="")
        .select_related("client")
        .order_by("failing_since", "created")
    )


def disabled_notice(endpoint: WebhookEndpoint) -> str:
    since = endpoint.failing_since or endpoint.modified
    return _(
        "Webhook endpoint %(url)s of %(client)s was disabled by linksite: every delivery to it "
        "has failed since %(since)s. Once it answers again, enable it (uncheck “disabled”)."
    ) % {
        "url": endpoint.url,
        "client": endpoint.client.name,
        "since": date_format(timezone.localtime(since), "DATETIME_FORMAT"),
    }


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "url",
        "client",
        "enabled",
        "subscribes_to",
        "failing_since",
        "last_delivery",
        "created",
    ]
    list_filter = [AttentionFilter, WebhookFailingFilter, "disabled", "client"]
    list_select_related = ["client"]
    search_fields = ["url", "client__name", "=id"]
    actions = ["send_test_event", "rotate_secrets"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        subscription = ["client", "url", "event_types", "company_tags", "disabled"]
        if obj is None:
            return [(None, {"fields": subscription})]
        return [
            (None, {"fields": ["id", *subscription]}),
            (
                _("State"),
                {
                    "fields": [
                        "disabled_notice_text",
                        "failing_since",
                        "signing_secrets",
                        "created",
                        "modified",
                    ]
                },
            ),
            (_("Recent deliveries"), {"fields": ["recent_deliveries"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [
            "id",
            "client",
            "disabled_notice_text",
            "failing_since",
            "signing_secrets",
            "created",
            "modified",
            "recent_deliveries",
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        latest = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-created", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_status=Subquery(latest.values("status")[:1]),
                last_created=Subquery(latest.values("created")[:1]),
            )
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET":
            for endpoint in disabled_by_linksite():
                self.message_user(request, disabled_notice(endpoint), messages.WARNING)
        return super().changelist_view(request, extra_context)

    # Columns and read-only fields

    @admin.display(description=_("enabled"), boolean=True, ordering="disabled")
    def enabled(self, obj: WebhookEndpoint) -> bool:
        return not obj.disabled

    @admin.display(description=_("subscribes to"))
    def subscribes_to(self, obj: WebhookEndpoint) -> str:
        if not obj.event_types:
            return _("every event type")
        return Truncator(", ".join(obj.event_types)).chars(80)

    @admin.display(description=_("last delivery"), ordering="last_created")
    def last_delivery(self, obj: WebhookEndpoint) -> str:
        status = getattr(obj, "last_status", None)
        if not status:
            return "—"
        return format_html(
            "{} ({})",
            WebhookDeliveryStatus(status).label,
            date_format(timezone.localtime(obj.last_created), "SHORT_DATETIME_FORMAT"),
        )

    @admin.display(description=_("notice"))
    def disabled_notice_text(self, obj: WebhookEndpoint) -> str:
        if obj.disabled and obj.disabled_reason:
            return format_html('<strong class="errornote">{}</strong>', disabled_notice(obj))
        if obj.disabled:
            return _("Disabled by its client or an operator.")
        return "—"

    @admin.display(description=_("signing secrets"))
    def signing_secrets(self, obj: WebhookEndpoint) -> str:
        """When each secret in force was made and until when it signs; never the secret."""
        now = timezone.now()
        rows = [
            (
                date_format(timezone.localtime(s.created), "DATETIME_FORMAT"),
                _("current")
                if s.expires is None
                else _("signs until %(expires)s")
                % {"expires": date_format(timezone.localtime(s.expires), "DATETIME_FORMAT")},
            )
            for s in obj.secrets.filter(Q(expires__isnull=True) | Q(expires__gt=now))
        ]
        if not rows:
            return "—"
        return format_html(
            "<ul>{}</ul><p>{}</p>",
            format_html_join("", "<li>{} — {}</li>", rows),
            _("Secrets are shown only once, when created; rotate to get a new one."),
        )

    @admin.display(description=_("recent deliveries"))
    def recent_deliveries(self, obj: WebhookEndpoint) -> str:
        deliveries = list(
            obj.deliveries.select_related("event").order_by("-created", "-id")[:RECENT_DELIVERIES]
        )
        all_url = (
            reverse("admin:feeds_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        )
        more = format_html('<p><a href="{}">{}</a></p>', all_url, _("All deliveries, to replay"))
        if not deliveries:
            return format_html("<p>{}</p>", _("No deliveries yet."))
        head = format_html_join(
            "",
            "<th>{}</th>",
            [
                (label,)
                for label in (
                    _("created"),
                    _("event type"),
                    _("status"),
                    _("attempts"),
                    _("last HTTP status"),
                    _("last error"),
                    _("latency (ms)"),
                    _("next attempt"),
                    _("delivered"),
                )
            ],
        )
        body = format_html_join(
            "",
            "<tr>" + "<td>{}</td>" * 9 + "</tr>",
            [
                (
                    _datetime(d.created),
                    d.event.event_type,
                    d.get_status_display(),
                    d.attempts,
                    d.last_status_code or "—",
                    Truncator(d.last_error).chars(120) or "—",
                    "—" if d.latency_ms is None else d.latency_ms,
                    _datetime(d.next_attempt),
                    _datetime(d.delivered),
                )
                for d in deliveries
            ],
        )
        return format_html(
            '<table class="webhook-deliveries"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
            "</table>{}",
            head,
            body,
            more,
        )

    # Saving and deleting through the domain

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        actor = Actor.operator(request.user)
        data = form.cleaned_data
        if not change:
            endpoint, secret = endpoints.create(
                data["client"],
                url=data["url"],
                event_types=data["event_types"],
                disabled=data["disabled"],
                company_tags=data["company_tags"],
                actor=actor,
            )
            # The admin goes on with `obj` (its log, its next page): make it the row created.
            for field in obj._meta.concrete_fields:
                setattr(obj, field.attname, getattr(endpoint, field.attname))
            obj._state = endpoint._state
            request._new_webhook_secrets = [(obj, secret)]  # type: ignore[attr-defined]
            return
        api_names = {v: k for k, v in _FORM_FIELD.items()} | {"disabled": "disabled"}
        changes = {api_names[n]: data[n] for n in form.changed_data if n in api_names}
        if changes:
            # The row as it was: the form already set the new values on `obj`.
            endpoint = WebhookEndpoint.objects.get(pk=obj.pk)
            endpoints.update(endpoint, changes, actor=actor)
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        endpoints.delete(obj, actor=Actor.operator(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        actor = Actor.operator(request.user)
        for endpoint in queryset:
            endpoints.delete(endpoint, actor=actor)

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: Any = None
    ) -> HttpResponse:
        return self._secrets_page(
            request,
            _("Webhook endpoint created"),
            request._new_webhook_secrets,  # type: ignore[attr-defined]
            rotated=False,
        )

    def _secrets_page(
        self,
        request: HttpRequest,
        title: str,
        rows: list[tuple[WebhookEndpoint, str]],
        rotated: bool,
    ) -> HttpResponse:
        expires = timezone.now() + endpoints.ROTATION_OVERLAP
        return secret_shown_once(
            self,
            request,
            "admin/feeds/webhookendpoint/secret.html",
            title,
            None,
            rows=rows,
            rotated=rotated,
            previous_expires=expires,
        )

    # Rotating the secret and sending a test event: buttons on the page, actions on the list

    def get_urls(self) -> list[Any]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/rotate-secret/",
                self.admin_site.admin_view(require_POST(self.rotate_secret_view)),
                name=f"{prefix}_rotate_secret",
            ),
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(require_POST(self.send_test_view)),
                name=f"{prefix}_send_test",
            ),
            *super().get_urls(),
        ]

    def _endpoint_for_change(self, request: HttpRequest, object_id: str) -> WebhookEndpoint:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def rotate_secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        secret = endpoints.rotate_secret(endpoint, actor=Actor.operator(request.user))
        return self._secrets_page(
            request, _("Signing secret rotated"), [(endpoint, secret)], rotated=True
        )

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        endpoints.send_test(endpoint, actor=Actor.operator(request.user))
        self.message_user(
            request,
            _("A test event is on its way to %(url)s.") % {"url": endpoint.url},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:feeds_webhookendpoint_change", args=[quote(endpoint.pk)])
        )

    @admin.action(description=_("Send a test event to the selected endpoints"))
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        actor = Actor.operator(request.user)
        count = 0
        for endpoint in queryset:
            endpoints.send_test(endpoint, actor=actor)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)d test event sent.", "%(n)d test events sent.", count) % {"n": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Rotate the signing secret of the selected endpoints"))
    def rotate_secrets(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse:
        actor = Actor.operator(request.user)
        rows = [(e, endpoints.rotate_secret(e, actor=actor)) for e in queryset]
        return self._secrets_page(request, _("Signing secrets rotated"), rows, rotated=True)


def _datetime(value: Any) -> str:
    if value is None:
        return "—"
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """What was sent where and how it went; only a replay changes a delivery."""

    list_display = [
        "created",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "short_error",
        "latency_ms",
        "last_attempt",
        "next_attempt",
        "delivered",
    ]
    list_filter = ["status", "event__event_type", "endpoint"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["=event__id", "endpoint__url"]
    date_hierarchy = "created"
    show_full_result_count = False
    actions = ["replay"]
    fields = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "created",
        "last_attempt",
        "last_status_code",
        "last_error",
        "latency_ms",
        "next_attempt",
        "delivered",
    ]

    @admin.display(description=_("event type"), ordering="event__event_type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.event_type

    @admin.display(description=_("last error"))
    def short_error(self, obj: WebhookDelivery) -> str:
        return Truncator(obj.last_error).chars(120)

    @admin.action(description=_("Replay selected deliveries"))
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = endpoints.replay(queryset, actor=Actor.operator(request.user))
        self.message_user(
            request,
            ngettext(
                "%(n)d delivery will be sent again.", "%(n)d deliveries will be sent again.", count
            )
            % {"n": count},
            messages.SUCCESS,
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["generated", "event_type", "client", "company_id", "id"]
    list_filter = ["event_type", "client"]
    list_select_related = ["client"]
    search_fields = ["=id", "=company_id"]
    date_hierarchy = "generated"
    show_full_result_count = False
    fields = ["id", "client", "company_id", "event_type", "generated", "body"]


# The dashboard's own rows (`feeds.dashboard`) ------------------------------------------------


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_seen", "every_seconds", "host"]


@admin.register(DeliveryDay)
class DeliveryDayAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "written",
        "delivered",
        "failures",
        "latency_p50",
        "latency_p95",
        "computed",
        "final",
    ]
