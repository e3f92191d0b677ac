"""Operator admin for the organization, API clients and keys, companies and the audit log."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import companies
from accounts.audit import Actor, record
from accounts.branding import callout_parts, link_branding, read_logo
from accounts.link_markup import CHIP, account_items
from accounts.models import (
    ApiClient,
    ApiKey,
    AuditEvent,
    Company,
    OrganizationSettings,
    PartnerKey,
    RefusalTally,
)

admin.site.site_header = _("linksite operator admin")
admin.site.site_title = _("linksite admin")
admin.site.index_title = _("Bank feeds to QuickBooks Online")


def could_be_value_of(field: Any, value: Any) -> bool:
    """Whether `value`, as a form sent it, could be stored in the model field `field`: the
    database would refuse a lookup with one that cannot (a garbled UUID, an integer out of
    range, a NUL), and the page would fail."""
    if isinstance(value, str) and "\x00" in value:  # no database column holds one
        return False
    try:
        python = field.to_python(value)
    except ValidationError:
        return False
    if isinstance(python, int):
        ops = connections[field.model._default_manager.db].ops
        low, high = ops.integer_field_range(field.get_internal_type())
        return (low is None or python >= low) and (high is None or python <= high)
    return True


class CheckedAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, which shows again a value sent with an error: one that
    cannot be a key of the related model is not looked up (Django would, and fail)."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        remote = self.field.remote_field
        key = remote.model._meta.get_field(getattr(remote, "field_name", None) or "pk")
        value = [v for v in value if v is None or could_be_value_of(key, v)]
        return super().optgroups(name, value, attr)


class ModelAdmin(admin.ModelAdmin):
    """The admin of linksite's models, for forms that do not come from its pages: an action's
    selection and an autocomplete field's value are checked before Django looks them up."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = CheckedAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> Any:
        drop_impossible_selection(request, self.model)
        return super().response_action(request, queryset)


def drop_impossible_selection(request: HttpRequest, model: Any) -> None:
    """Leave out of an action's selection the ids the model's key could never hold; with none
    left, Django says "Items must be selected" and changes nothing."""
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    pk = model._meta.pk
    kept = [value for value in selected if could_be_value_of(pk, value)]
    if kept != selected:
        post = request.POST.copy()
        post.setlist(helpers.ACTION_CHECKBOX_NAME, kept)
        request.POST = post


def check_every_selection(site: admin.AdminSite) -> None:
    """The same check for every admin on the site, Django's and the sandbox's included (their
    classes are not ours to derive from): each one's `response_action` checks first."""
    for model, model_admin in site._registry.items():
        if isinstance(model_admin, ModelAdmin):
            continue
        original = model_admin.response_action

        def response_action(
            request: HttpRequest, queryset: QuerySet, *, _model=model, _do=original
        ):
            drop_impossible_selection(request, _model)
            return _do(request, queryset)

        model_admin.response_action = response_action


class ReadOnlyAdmin(ModelAdmin):
    """Records that only the system writes: operators may look, not touch."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Related rows listed on a parent's page, each linking to its own page."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def secret_shown_once(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    template: str,
    title: str,
    secret: Any,
    **context: Any,
) -> TemplateResponse:
    """The page that follows the creation of a key or secret: the only time it is shown, so
    the page is never stored by a cache (only a hash or seed is kept)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "secret": secret,
        **context,
    }
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


CALLOUT_FIELDS = ("callout_title_en", "callout_body_en", "callout_title_fr", "callout_body_fr")


class OneLineField(forms.CharField):
    """Plain text on one line: runs of white space, line breaks included, become one space
    before the length is checked (a browser sends a line break as two characters, and its
    counter counts one)."""

    def to_python(self, value: Any) -> str:
        return " ".join(super().to_python(value).split())


class WebAddressField(forms.URLField):
    """An address typed without a scheme is read as https (the only one the Link pages'
    addresses may use, `check_web_address`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(assume_scheme="https", **kwargs)


def callout_widget(name: str) -> forms.Widget:
    # A body of up to 150 characters reads better in a box of a few lines than in one line.
    attrs = {"data-charcount": "1"}
    if "body" in name:
        return forms.Textarea(attrs={**attrs, "rows": 3, "class": "vLargeTextField callout-body"})
    return forms.TextInput(attrs={**attrs, "class": "vTextField"})


class OrganizationSettingsForm(forms.ModelForm):
    logo_file = forms.FileField(
        label=_("Upload a new logo"),
        required=False,
        help_text=_("PNG, JPEG, GIF or WebP, at most 2 MB; about 600 × 100 pixels looks best."),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )
    remove_logo = forms.BooleanField(label=_("Remove the current logo"), required=False)

    class Meta:
        model = OrganizationSettings
        fields = [
            "institution_name",
            "institution_name_fr",
            "integration_enabled",
            *CALLOUT_FIELDS,
            "return_url",
            "privacy_url",
            "terms_url",
            "support_contact",
        ]
        field_classes = {
            **{name: OneLineField for name in CALLOUT_FIELDS},
            **{name: WebAddressField for name in ("return_url", "privacy_url", "terms_url")},
        }
        widgets = {name: callout_widget(name) for name in CALLOUT_FIELDS}

    def clean_logo_file(self) -> tuple[bytes, str] | None:
        upload = self.cleaned_data.get("logo_file")
        return read_logo(upload) if upload else None

    def save(self, commit: bool = True) -> OrganizationSettings:
        obj = super().save(commit=False)
        logo = self.cleaned_data.get("logo_file")
        if logo:
            obj.logo, obj.logo_content_type = logo
            obj.logo_updated = timezone.now()
        elif self.cleaned_data.get("remove_logo"):
            obj.logo, obj.logo_content_type, obj.logo_updated = b"", "", timezone.now()
        if commit:
            obj.save()
        return obj


PREVIEW_SCREENS = {
    "connect": {"template": "link/connect.html", "step": 1, "label": _("First screen")},
    "setup": {"template": "link/setup.html", "step": 3, "label": _("Screen with the callout")},
}


def reverse_preview(screen: str) -> str:
    if screen == "connect":
        return reverse("admin:accounts_organizationsettings_preview")
    return reverse("admin:accounts_organizationsettings_preview_screen", args=[screen])


def link_preview_context(org: OrganizationSettings, screen: str, language: str) -> dict[str, Any]:
    """What a Link screen's template is given, for a sample company and sample accounts that
    exist only here (never saved). The Link templates change on their own: a name they need
    and do not find here renders empty."""
    company = Company(name=_("Sample company"), country="CA")
    chosen = [
        SimpleNamespace(
            pk=pk, account_name=name, masked_number=masked, link_state="pending", currency="CAD"
        )
        for pk, name, masked in (
            (1, _("Business chequing"), "••••4321"),
            (2, _("Business Visa"), "••••9876"),
        )
    ]
    return {
        **link_branding(org, language),
        "company": company,
        "country": company.country,
        "step": PREVIEW_SCREENS[screen]["step"],
        "chosen": chosen,
        "chips": account_items(CHIP, chosen, {}),
        "callout": callout_parts(org, language),
        "qbo_url": settings.QBO_APP_URL,
        "next_url": "#",
        "next_path": reverse_preview(screen),
        "preview": True,
        # Not the operator's own admin messages, and no working form: a button pressed in the
        # preview (Get credentials) must not act on a Link session this browser may also have,
        # so the page's forms carry a token the CSRF check refuses.
        "messages": [],
        "csrf_token": "preview",
    }


def with_banner(page: str, banner: str) -> str:
    """The page with the banner first in its body (or first at all, if it has no body tag)."""
    body = re.search(r"<body\b[^>]*>", page, re.IGNORECASE)
    at = body.end() if body else 0
    return page[:at] + banner + page[at:]


@admin.register(OrganizationSettings)
class OrganizationSettingsAdmin(ModelAdmin):
    """A single page: the list view goes straight to the one row."""

    form = OrganizationSettingsForm
    readonly_fields = ["current_logo", "daily_push_time", "time_zone", "modified"]
    fieldsets = [
        (None, {"fields": ["institution_name", "institution_name_fr", "integration_enabled"]}),
        (_("Logo"), {"fields": ["current_logo", "logo_file", "remove_logo"]}),
        (
            _("Link pages"),
            {
                "description": _(
                    "The addresses the Link pages send SMB users to or link to, and the "
                    "contact they are shown for help."
                ),
                "fields": ["return_url", "privacy_url", "terms_url", "support_contact"],
            },
        ),
        (
            _("Custom callout on the Link page"),
            {
                "description": _(
                    "Plain text shown in a grey box above the Get credentials button: a title "
                    "of up to 50 characters over a body of up to 150. French users see the "
                    "French text when there is one, else the English text."
                ),
                "fields": list(CALLOUT_FIELDS),
            },
        ),
        (
            _("Schedule (set in the environment)"),
            {"fields": ["daily_push_time", "time_zone", "modified"]},
        ),
    ]

    class Media:
        js = ["js/admin-charcount.js"]
        css = {"all": ["css/admin.css"]}

    @admin.display(description=_("Current logo"))
    def current_logo(self, obj: OrganizationSettings) -> str:
        if not obj.logo_content_type:
            return _("No logo uploaded yet.")
        return format_html(
            '<img class="org-logo-preview" src="{}?v={}" alt="{}">',
            reverse("org-logo"),
            int(obj.logo_updated.timestamp()) if obj.logo_updated else 0,
            obj.institution_name,
        )

    @admin.display(description=_("Daily push time"))
    def daily_push_time(self, obj: OrganizationSettings) -> str:
        return settings.DAILY_PUSH_TIME.strftime("%H:%M")

    @admin.display(description=_("Time zone"))
    def time_zone(self, obj: OrganizationSettings) -> str:
        return settings.TIME_ZONE

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        return OrganizationSettings.get()

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        obj = OrganizationSettings.get()
        return HttpResponseRedirect(
            reverse("admin:accounts_organizationsettings_change", args=[obj.pk])
        )

    def get_urls(self) -> list[Any]:
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("preview/", preview, name="accounts_organizationsettings_preview"),
            path(
                "preview/<slug:screen>/",
                preview,
                name="accounts_organizationsettings_preview_screen",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, screen: str = "connect") -> HttpResponse:
        """A Link screen as SMB users see it with the saved settings, for a sample company;
        nothing is written."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if screen not in PREVIEW_SCREENS:
            raise Http404
        org = OrganizationSettings.current(logo=False)
        page = render_to_string(
            PREVIEW_SCREENS[screen]["template"],
            link_preview_context(org, screen, translation.get_language()),
            request=request,
        )
        banner = render_to_string(
            "admin/accounts/organizationsettings/preview_banner.html",
            {
                "screens": [
                    (name, reverse_preview(name), PREVIEW_SCREENS[name]["label"])
                    for name in PREVIEW_SCREENS
                ],
                "screen": screen,
                "org": org,
                "settings_url": reverse(
                    "admin:accounts_organizationsettings_change", args=[org.pk or 1]
                ),
            },
            request=request,
        )
        return HttpResponse(with_banner(page, banner))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Save comes back to this page: "Save and continue editing" would be the same button.
        extra_context = {**(extra_context or {}), "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def response_change(self, request: HttpRequest, obj: OrganizationSettings) -> HttpResponse:
        # One row: back to its page (Django would go to a list of one), with a message that
        # does not quote the institution's name as if it were the settings' name.
        self.message_user(request, _("Organization settings saved."), messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:accounts_organizationsettings_change", args=[obj.pk])
        )

    def save_model(
        self, request: HttpRequest, obj: OrganizationSettings, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        changed = [name for name in form.changed_data if name != "remove_logo"]
        if form.cleaned_data.get("remove_logo") and not form.cleaned_data.get("logo_file"):
            changed.append("logo_removed")
        if changed:
            record(Actor.operator(request.user), "organization.updated", obj, fields=changed)


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    fields = ["name", "prefix", "created", "last_used", "revoked"]


@admin.register(ApiClient)
class ApiClientAdmin(ModelAdmin):
    list_display = ["name", "active_keys", "companies", "created"]
    search_fields = ["name"]
    readonly_fields = ["created"]
    inlines = [ApiKeyInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiClient]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_keys=Count("keys", filter=Q(keys__revoked__isnull=True), distinct=True),
                n_companies=Count("companies", distinct=True),
            )
        )

    @admin.display(description=_("active keys"), ordering="n_keys")
    def active_keys(self, obj: ApiClient) -> int:
        return obj.n_keys

    @admin.display(description=_("companies"), ordering="n_companies")
    def companies(self, obj: ApiClient) -> int:
        return obj.n_companies


class ActiveKeyFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", _("active")), ("revoked", _("revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    """Keys are created here and shown once, on the page that follows the save."""

    list_display = ["name", "client", "prefix", "created", "last_used", "revoked"]
    list_filter = [ActiveKeyFilter, "client"]
    list_select_related = ["client"]
    search_fields = ["name", "prefix", "client__name"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["client", "name"]
        return ["client", "name", "prefix", "created", "last_used", "revoked"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["client", "prefix", "created", "last_used", "revoked"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's history stays in the audit log

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        request._new_api_key = obj.set_new_key()  # type: ignore[attr-defined]
        obj.save()
        record(Actor.operator(request.user), "api_key.created", obj, client=obj.client.name)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None
    ) -> HttpResponse:
        return secret_shown_once(
            self,
            request,
            "admin/accounts/apikey/created.html",
            _("API key created"),
            request._new_api_key,  # type: ignore[attr-defined]
            api_key=obj,
        )

    @admin.action(description=_("Revoke selected API keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        now = timezone.now()
        keys = list(queryset.filter(revoked__isnull=True).select_related("client"))
        for key in keys:
            ApiKey.objects.filter(pk=key.pk, revoked__isnull=True).update(revoked=now)
            record(Actor.operator(request.user), "api_key.revoked", key)
        self.message_user(
            request,
            ngettext("%(n)d API key revoked.", "%(n)d API keys revoked.", len(keys))
            % {"n": len(keys)},
            messages.SUCCESS,
        )


@admin.register(PartnerKey)
class PartnerKeyAdmin(ModelAdmin):
    """Keys Intuit sends in `X-Partner-Key` when QBO pulls (the IDX API), besides those of the
    IDX_PARTNER_KEYS setting. Created here and shown once, on the page after the save."""

    list_display = ["name", "prefix", "created", "last_used", "revoked"]
    list_filter = [ActiveKeyFilter]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: PartnerKey | None = None) -> list[str]:
        if obj is None:
            return ["name"]
        return ["name", "prefix", "created", "last_used", "revoked"]

    def get_readonly_fields(self, request: HttpRequest, obj: PartnerKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["prefix", "created", "last_used", "revoked"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's history stays in the audit log

    def save_model(self, request: HttpRequest, obj: PartnerKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        request._new_partner_key = obj.set_new_key()  # type: ignore[attr-defined]
        obj.save()
        record(Actor.operator(request.user), "partner_key.created", obj)

    def response_add(
        self, request: HttpRequest, obj: PartnerKey, post_url_continue: Any = None
    ) -> HttpResponse:
        return secret_shown_once(
            self,
            request,
            "admin/accounts/partnerkey/created.html",
            _("Partner key created"),
            request._new_partner_key,  # type: ignore[attr-defined]
            partner_key=obj,
        )

    @admin.action(description=_("Revoke selected partner keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerKey]) -> None:
        now = timezone.now()
        keys = list(queryset.filter(revoked__isnull=True))
        for key in keys:
            PartnerKey.objects.filter(pk=key.pk, revoked__isnull=True).update(revoked=now)
            record(Actor.operator(request.user), "partner_key.revoked", key)
        self.message_user(
            request,
            ngettext("%(n)d partner key revoked.", "%(n)d partner keys revoked.", len(keys))
            % {"n": len(keys)},
            messages.SUCCESS,
        )


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ["client", "name", "country", "description", "tags"]

    def clean_country(self) -> str:
        country = self.cleaned_data.get("country", "")
        refused = companies.country_change_refused(self.instance.country, country)
        if self.instance.pk and refused:
            raise forms.ValidationError(refused)
        return country

    def clean_tags(self) -> dict[str, str]:
        tags = self.cleaned_data.get("tags") or {}
        problem = companies.tags_problem(tags)
        if problem:
            raise forms.ValidationError(problem)
        return tags


@admin.register(Company)
class CompanyAdmin(ModelAdmin):
    form = CompanyForm
    list_display = ["name", "country_or_unknown", "client", "n_connections", "created", "overview"]
    list_filter = ["country", "client"]
    list_select_related = ["client"]
    search_fields = ["name", "=id", "description"]
    readonly_fields = ["id", "created"]
    fields = ["id", "client", "name", "country", "description", "tags", "created"]
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return super().get_queryset(request).annotate(connection_count=Count("connections"))

    @admin.display(description=_("connections"), ordering="connection_count")
    def n_connections(self, obj: Company) -> int:
        return obj.connection_count

    @admin.display(description=_("overview"))
    def overview(self, obj: Company) -> str:
        """The dashboard's drill-down: connections, accounts, feeds, deliveries and events."""
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:dashboard_company", args=[obj.pk]), _("Overview")
        )

    # Blank while unknown (created without one through the API): the Link pages ask the SMB user.
    @admin.display(description=_("country"), ordering="country", empty_value=_("unknown"))
    def country_or_unknown(self, obj: Company) -> str | None:
        return obj.get_country_display() or None


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created", "actor_type", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["actor_type", "action", "object_type"]
    search_fields = ["=object_id", "action", "actor_label", "=company_id"]
    date_hierarchy = "created"
    show_full_result_count = False


@admin.register(RefusalTally)
class RefusalTallyAdmin(ReadOnlyAdmin):
    """Refused unauthenticated requests, counted per source and minute."""

    list_display = ["minute", "action", "source", "count", "first"]
    list_filter = ["action"]
    search_fields = ["=source"]
    date_hierarchy = "minute"
    show_full_result_count = False
