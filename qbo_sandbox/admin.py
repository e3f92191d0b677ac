from django.contrib import admin
from django.http import HttpRequest

from qbo_sandbox.models import (
    ChartAccount,
    FaultSettings,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)


@admin.register(SandboxCompany)
class SandboxCompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]


@admin.register(ChartAccount)
class ChartAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "account_type", "company", "created"]
    list_filter = ["account_type"]


@admin.register(LinkedFeed)
class LinkedFeedAdmin(admin.ModelAdmin):
    list_display = [
        "feed_id",
        "source_display_name",
        "chart_account",
        "status",
        "feed_start_date",
        "duplicates",
        "force_410",
        "delivery",
        "last_pulled_at",
        "pull_error",
        "linked_at",
    ]
    list_filter = ["status", "delivery", "force_410"]
    # The stored password of a pull-mode feed is never shown.
    exclude = ["credential"]
    list_editable = ["force_410"]
    search_fields = ["feed_id", "source_account_id", "source_display_name"]
    list_select_related = ["chart_account"]


@admin.register(ReceivedBatch)
class ReceivedBatchAdmin(admin.ModelAdmin):
    list_display = ["batch_id", "feed", "accepted", "duplicates", "resends", "received_at"]
    search_fields = ["batch_id"]
    list_select_related = ["feed__chart_account"]


@admin.register(ReceivedTransaction)
class ReceivedTransactionAdmin(admin.ModelAdmin):
    list_display = ["txn_id", "feed", "cleared_on_date", "amount", "currency", "description"]
    search_fields = ["txn_id", "description"]
    list_select_related = ["feed__chart_account"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(FaultSettings)
class FaultSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "rate_503", "rate_429", "latency_ms", "rate_timeout", "rate_drop"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FaultSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
