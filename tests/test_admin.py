"""The operator admin: every page loads, logos are validated, keys are shown once, actions go
through the lifecycle."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.tasks import async_task

from accounts.models import (
    ApiClient,
    ApiKey,
    AuditEvent,
    Company,
    OrganizationSettings,
    PartnerKey,
)
from feeds.link_urls import LinkTokenError, make_token, read_token
from feeds.models import (
    CredentialSet,
    DeliveryBatch,
    LinkSession,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSecret,
)
from qbo_sandbox.models import (
    ChartAccount,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)
from tests.makers import (
    image_bytes,
    make_account,
    make_batch,
    make_company,
    make_credentials,
    make_feed,
    make_transaction,
)


@pytest.fixture
def everything(alice, operator):
    """One row of every model the admin shows."""
    OrganizationSettings.get()
    ApiKey.issue(alice.company.client, "alice-key")
    PartnerKey.issue("intuit")
    feed = make_feed(alice.checking)
    batch = make_batch(feed, status="failed", last_error="503 Service Unavailable")
    make_transaction(alice.checking, "t-1", delivery_batch=batch)
    cred = make_credentials(alice.connection)
    cred.source_accounts.add(alice.checking)
    LinkSession.objects.create(
        credential_set=cred, connection=alice.connection, expires=timezone.now()
    )
    AuditEvent.objects.create(actor_type="system", action="test.event")
    from accounts.audit import record_refusal

    record_refusal("qbo.refused", "203.0.113.9", path="/qbo/v1/x", reason="bad signature")
    endpoint = WebhookEndpoint.objects.create(client=alice.company.client, url="https://x.example")
    WebhookSecret.objects.create(endpoint=endpoint, seed="0" * 64)
    event = WebhookEvent.objects.create(
        client=alice.company.client, event_type="connection.created", body="{}"
    )
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, last_error="timed out")
    Schedule.objects.create(name="x", func="feeds.tasks.daily_maintenance", schedule_type="D")
    from feeds import dashboard

    dashboard.beat()
    dashboard.refresh_days()
    Group.objects.create(name="support")
    now = timezone.now()
    for success in (True, False):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"task-{success}",
            func="feeds.tasks.daily_maintenance",
            started=now,
            stopped=now,
            success=success,
        )
    async_task("feeds.tasks.daily_maintenance")  # a queued task in the ORM broker
    # The QBO sandbox's own rows (its company, accounts and fault settings come with migrations).
    SandboxCompany.current()  # also after an earlier transactional test's flush
    sandbox_feed = LinkedFeed.record(
        "fd_sandbox",
        ChartAccount.objects.get(name="Checking"),
        source_account_id="alice-chk",
        display_name="Alice Checking ••••6789",
        feed_start_date=timezone.localdate(),
    )
    received = ReceivedBatch.objects.create(batch_id="b-1", feed=sandbox_feed)
    ReceivedTransaction.objects.create(
        feed=sandbox_feed,
        batch=received,
        txn_id="t-1",
        date=timezone.localdate(),
        cleared_on_date=timezone.localdate(),
        amount=1,
    )
    return alice


def admin_urls():
    yield from admin.site._registry.items()


@pytest.mark.parametrize("model", [m for m, _ in admin_urls()], ids=lambda m: m._meta.label_lower)
def test_every_changelist_and_change_form_loads_for_an_operator(operator_client, everything, model):
    opts = model._meta
    changelist = operator_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), follow=True
    )
    assert changelist.status_code == 200
    obj = model._default_manager.first()
    assert obj is not None, f"no {opts.label} to open"
    change = operator_client.get(
        # As admin's own links do: a feed id like fd_22… would otherwise be read as fd_"…
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    )
    assert change.status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(change.wsgi_request):
        add = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == 200


def test_the_admin_needs_a_staff_login(client, db):
    response = client.get(reverse("admin:feeds_connection_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_admin_speaks_french(operator_client):
    operator_client.post(reverse("set_language"), {"language": "fr-ca", "next": "/admin/"})
    page = operator_client.get("/admin/").content.decode()
    assert 'lang="fr-ca"' in page
    assert "Flux bancaires" in page and "Comptes sources" in page
    assert "English</button>" in page


ORG_URL = "/admin/accounts/organizationsettings/1/change/"


def org_form(**overrides):
    data = {
        "institution_name": "Maple Bank",
        "integration_enabled": "on",
        "callout_title_en": "Keep them private",
        "callout_body_en": "We never ask for them.",
        "callout_title_fr": "",
        "callout_body_fr": "",
        "support_contact": "support@maplebank.example",
    }
    data.update(overrides)
    return data


def test_organization_settings_is_a_single_page(operator_client):
    response = operator_client.get("/admin/accounts/organizationsettings/")
    assert response.status_code == 302 and response["Location"] == ORG_URL
    page = operator_client.get(ORG_URL).content.decode()
    assert "admin-charcount.js" in page
    assert 'maxlength="50"' in page and 'maxlength="150"' in page
    assert "02:00" in page and "America/Toronto" in page
    assert OrganizationSettings.objects.count() == 1


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "WEBP"])
def test_an_operator_can_upload_a_logo(operator_client, kind):
    upload = SimpleUploadedFile(f"logo.{kind.lower()}", image_bytes(kind), content_type="image/x")
    response = operator_client.post(ORG_URL, {**org_form(), "logo_file": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    org = OrganizationSettings.get()
    assert org.logo_content_type == f"image/{kind.lower()}"
    served = operator_client.get("/branding/logo")
    assert served["Content-Type"] == org.logo_content_type
    assert b"".join(served.streaming_content if served.streaming else [served.content]) == bytes(
        org.logo
    )
    event = AuditEvent.objects.get(action="organization.updated")
    assert "logo_file" in event.data["fields"] and event.actor_label == "operator"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("logo.svg", SVG),
        ("logo.png", b"just some text renamed to look like a PNG"),
        ("logo.png", image_bytes("PNG")[:40]),  # truncated
        ("logo.bmp", image_bytes("BMP")),
        ("logo.png", image_bytes("PNG", (4500, 10))),
    ],
    ids=["svg", "renamed-text", "truncated-png", "bmp", "too-wide"],
)
def test_a_logo_that_is_not_a_real_png_jpeg_gif_or_webp_is_refused(operator_client, name, content):
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = operator_client.post(ORG_URL, {**org_form(), "logo_file": upload})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["logo_file"]
    assert any("PNG, JPEG, GIF or WebP" in e or "4000" in e for e in errors), errors
    assert OrganizationSettings.get().logo_content_type == ""


def test_a_logo_over_2_mb_is_refused(operator_client):
    upload = SimpleUploadedFile(
        "big.png", b"\x89PNG" + b"0" * (2 * 1024 * 1024), content_type="image/png"
    )
    response = operator_client.post(ORG_URL, {**org_form(), "logo_file": upload})
    assert response.status_code == 200
    assert "the limit is 2 MB" in str(response.context["adminform"].form.errors["logo_file"])


def test_the_logo_error_is_in_french_for_a_french_operator(operator_client):
    operator_client.post(reverse("set_language"), {"language": "fr-ca", "next": "/admin/"})
    upload = SimpleUploadedFile("logo.svg", SVG, content_type="image/svg+xml")
    response = operator_client.post(ORG_URL, {**org_form(), "logo_file": upload})
    message = str(response.context["adminform"].form.errors["logo_file"])
    assert "SVG" in message and "accepté" in message


def test_callouts_longer_than_50_and_150_characters_are_refused(operator_client):
    response = operator_client.post(
        ORG_URL, org_form(callout_title_fr="T" * 51, callout_body_fr="B" * 151)
    )
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"callout_title_fr", "callout_body_fr"}
    assert OrganizationSettings.get().callout_title_fr == ""


def test_a_callout_is_saved_as_plain_text(operator_client):
    operator_client.post(ORG_URL, org_form(callout_title_en="<script>alert(1)</script>"))
    assert OrganizationSettings.get().callout_title_en == "<script>alert(1)</script>"
    page = operator_client.get(ORG_URL).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_french_callout_falls_back_to_english(db):
    org = OrganizationSettings.get()
    assert org.callout("fr-ca") is None
    org.callout_title_en, org.callout_body_en = "Title", "Body"
    assert org.callout("fr-ca") == ("Title", "Body")
    org.callout_title_fr = "Titre"
    assert org.callout("fr-ca") == ("Titre", "") and org.callout("en-ca") == ("Title", "Body")


def test_a_new_api_key_is_shown_exactly_once(operator_client):
    client_row = ApiClient.objects.create(name="backend")
    response = operator_client.post(
        "/admin/accounts/apikey/add/", {"client": client_row.pk, "name": "prod"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'value="(lsk_[A-Za-z0-9_-]+)"', page).group(1)
    key = ApiKey.authenticate(secret)
    assert key is not None and key.name == "prod"
    for url in (
        "/admin/accounts/apikey/",
        f"/admin/accounts/apikey/{key.pk}/change/",
        "/admin/accounts/apiclient/",
    ):
        assert secret not in operator_client.get(url).content.decode()
    assert AuditEvent.objects.filter(action="api_key.created", object_id=str(key.pk)).exists()


def test_an_operator_can_revoke_api_keys(operator_client, alice):
    key, secret = ApiKey.issue(alice.company.client, "old")
    operator_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert ApiKey.authenticate(secret) is None
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_credential_sets_never_show_a_secret(operator_client, alice):
    cred = make_credentials(alice.connection, password_hash="pbkdf2_sha256$1000000$salt$SECRETHASH")
    for url in ("/admin/feeds/credentialset/", f"/admin/feeds/credentialset/{cred.pk}/change/"):
        page = operator_client.get(url).content.decode()
        assert "SECRETHASH" not in page and "pbkdf2" not in page
        assert cred.username in page


def test_an_operator_can_revoke_credential_sets(operator_client, alice):
    cred = make_credentials(alice.connection)
    operator_client.post(
        "/admin/feeds/credentialset/", {"action": "revoke", "_selected_action": [cred.pk]}
    )
    cred.refresh_from_db()
    assert cred.state == "revoked"
    assert (
        AuditEvent.objects.filter(action="credentials.revoked", actor_type="operator").count() == 1
    )


def test_retrying_a_failed_batch_goes_through_the_lifecycle(operator_client, alice):
    feed = make_feed(alice.checking)
    failed = make_batch(feed, status="failed")
    response = operator_client.post(
        "/admin/feeds/deliverybatch/",
        {"action": "retry", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.next_attempt is not None
    event = AuditEvent.objects.get(action="deliverybatch.status")
    assert event.data == {"from": "failed", "to": "pending", "reason": "admin action"}


def test_unlinking_a_pending_connection_is_refused_with_a_reason(operator_client, alice):
    response = operator_client.post(
        "/admin/feeds/connection/",
        {"action": "unlink", "_selected_action": [alice.connection.pk]},
        follow=True,
    )
    alice.connection.refresh_from_db()
    assert alice.connection.status == "PendingAuth"
    assert "cannot go from 'PendingAuth' to 'Unlinked'" in html.unescape(response.content.decode())


def test_transactions_push_operations_and_audit_events_are_read_only(operator_client, alice):
    make_transaction(alice.checking, "t-ro")
    for model in (
        "feeds/banktransaction",
        "feeds/pushoperation",
        "accounts/auditevent",
        "feeds/deliverybatch",
    ):
        assert operator_client.get(f"/admin/{model}/add/").status_code == 403
    txn = alice.checking.transactions.get()
    page = operator_client.get(f"/admin/feeds/banktransaction/{txn.pk}/change/").content.decode()
    assert 'name="description"' not in page and "Coffee beans" in page
    assert operator_client.post(f"/admin/feeds/banktransaction/{txn.pk}/delete/").status_code == 403
    assert DeliveryBatch.objects.count() == 0 and CredentialSet.objects.count() == 0


def test_the_feed_list_shows_pending_count_last_delivery_and_last_error(
    operator_client, alice, django_assert_max_num_queries
):
    feed = make_feed(alice.checking)
    delivered_at = timezone.now() - dt.timedelta(hours=3)
    make_batch(feed, status="delivered", delivered=delivered_at)
    for n in range(3):
        make_transaction(alice.checking, f"p-{n}")
    make_batch(feed, status="failed", last_error="503: QuickBooks is temporarily unavailable.")
    for n in range(5):  # more feeds on the page cost no more queries
        make_feed(make_account(alice.connection, f"extra-{n}"))
    with django_assert_max_num_queries(12):
        page = operator_client.get("/admin/feeds/feed/").content.decode()
    row = next(r for r in page.split("<tr") if feed.pk in r)
    cells = re.findall(r'<td class="field-(\w+)[^"]*">(.*?)</td>', row, re.S)
    shown = dict(cells)
    assert shown["pending_count"] == "3"
    assert "503: QuickBooks is temporarily unavailable." in shown["last_error"]
    assert shown["last_delivery"] != "-"
    # Quoted as admin quotes it: "_" is admin's escape, and a feed id like "fd_22…" passed as is
    # is read back as another id whenever two hex digits follow the "_".
    response = operator_client.get(reverse("admin:feeds_feed_change", args=[quote(feed.pk)]))
    assert response.status_code == 200
    detail = response.content.decode()
    assert "503: QuickBooks is temporarily unavailable." in detail


def test_deauthorizing_in_admin_also_stops_link_urls_and_unused_credentials(operator_client, alice):
    token = make_token(alice.connection)
    cred = make_credentials(alice.connection)
    operator_client.post(
        "/admin/feeds/connection/",
        {"action": "deauthorize", "_selected_action": [alice.connection.pk]},
    )
    alice.connection.refresh_from_db()
    cred.refresh_from_db()
    assert alice.connection.status == "Deauthorized"
    assert cred.state == "revoked"
    with pytest.raises(LinkTokenError):
        read_token(token)
    assert AuditEvent.objects.filter(
        action="credentials.revoked", actor_type="operator", object_id=str(alice.connection.pk)
    ).exists()


def test_a_company_without_a_country_shows_and_saves_in_admin(operator_client, db):
    company = make_company("Carol Café", "", client="carol")
    changelist = operator_client.get(reverse("admin:accounts_company_changelist"))
    assert changelist.status_code == 200
    row = re.search(r"<tr>.*?Carol Café.*?</tr>", changelist.content.decode(), re.S)
    assert row and "unknown" in row.group(0)
    url = reverse("admin:accounts_company_change", args=[company.pk])
    change = operator_client.get(url)
    assert change.status_code == 200
    assert re.search(r'<option value="" selected>', change.content.decode())
    data = {"client": company.client_id, "name": "Carol Café", "country": "", "description": ""}
    assert operator_client.post(url, data).status_code == 302
    assert Company.objects.get(pk=company.pk).country == ""
    assert operator_client.post(url, {**data, "country": "CA"}).status_code == 302
    assert Company.objects.get(pk=company.pk).country == "CA"
    # Known, it cannot become unknown again (credentials may have been issued on it).
    refused = operator_client.post(url, data)
    assert refused.status_code == 200
    assert "cannot be made unknown" in refused.content.decode()
    assert Company.objects.get(pk=company.pk).country == "CA"


def test_a_companys_tags_are_edited_as_json_in_admin(operator_client, db):
    company = make_company("Carol Café", "CA", client="carol")
    url = reverse("admin:accounts_company_change", args=[company.pk])
    data = {"client": company.client_id, "name": "Carol Café", "country": "CA"}
    assert operator_client.post(url, {**data, "tags": '{"crm": "42"}'}).status_code == 302
    assert Company.objects.get(pk=company.pk).tags == {"crm": "42"}
    assert operator_client.post(url, {**data, "tags": ""}).status_code == 302
    assert Company.objects.get(pk=company.pk).tags == {}
    too_many = {f"k{n}": "v" for n in range(11)}
    refused = operator_client.post(url, {**data, "tags": json.dumps(too_many)})
    assert refused.status_code == 200 and "At most 10 tags." in refused.content.decode()
    assert operator_client.post(url, {**data, "tags": '["a"]'}).status_code == 200
    assert Company.objects.get(pk=company.pk).tags == {}


# Organization settings (issue 17, item 16) ------------------------------------------------------

PREVIEW_URL = "/admin/accounts/organizationsettings/preview/"
SETUP_PREVIEW_URL = "/admin/accounts/organizationsettings/preview/setup/"


def tag(page: str, element: str, name: str) -> str:
    """The opening tag of the form field `name`, or "" when there is no such <element>."""
    found = re.search(rf'<{element}\b[^>]*\bname="{name}"[^>]*>', page)
    return found.group(0) if found else ""


def maple_bank(**fields) -> OrganizationSettings:
    org = OrganizationSettings.get()
    defaults = {
        "institution_name": "Maple Bank",
        "callout_title_en": "Keep them private",
        "callout_body_en": "We never ask for your QuickBooks password.",
    }
    for name, value in {**defaults, **fields}.items():
        setattr(org, name, value)
    org.save()
    return org


@pytest.fixture
def support_agent(db):
    """Staff who may look at the organization settings, and nothing else."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("agent", password="agent-pass-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_organizationsettings"))
    return user


def test_the_callout_bodies_are_boxes_of_three_lines_with_a_counter(operator_client):
    page = operator_client.get(ORG_URL).content.decode()
    for language in ("en", "fr"):
        body = tag(page, "textarea", f"callout_body_{language}")
        assert 'rows="3"' in body and 'maxlength="150"' in body and "data-charcount" in body
        assert not tag(page, "input", f"callout_body_{language}")
        title = tag(page, "input", f"callout_title_{language}")
        assert 'maxlength="50"' in title and "data-charcount" in title


def test_a_line_break_in_a_callout_body_is_saved_as_one_space(operator_client):
    # A browser sends a line break as two characters: 151 sent, 150 once on one line.
    body = "A" * 74 + "\r\n" + "B" * 75
    response = operator_client.post(ORG_URL, org_form(callout_body_fr=body))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert OrganizationSettings.get().callout_body_fr == "A" * 74 + " " + "B" * 75


def test_the_new_settings_are_where_an_operator_looks_for_them(operator_client):
    fieldsets = dict(operator_client.get(ORG_URL).context["adminform"].fieldsets)
    assert fieldsets[None]["fields"][:2] == ["institution_name", "institution_name_fr"]
    link_pages = next(opts for name, opts in fieldsets.items() if name == "Link pages")
    assert link_pages["fields"] == ["return_url", "privacy_url", "terms_url", "support_contact"]


def test_an_operator_saves_the_link_addresses_and_the_french_name(operator_client):
    addresses = {
        "institution_name_fr": "Banque Érable",
        "return_url": "https://app.maplebank.example/done",
        "privacy_url": "https://maplebank.example/privacy",
        "terms_url": "https://maplebank.example/terms",
    }
    assert operator_client.post(ORG_URL, org_form(**addresses)).status_code == 302
    org = OrganizationSettings.get()
    assert {name: getattr(org, name) for name in addresses} == addresses
    refused = operator_client.post(ORG_URL, org_form(return_url="http://maplebank.example/"))
    assert set(refused.context["adminform"].form.errors) == {"return_url"}


def test_saving_the_settings_says_so_and_stays_on_the_page(operator_client):
    for button in ({"_save": "Save"}, {"_continue": "1"}):
        response = operator_client.post(ORG_URL, {**org_form(), **button})
        assert response.status_code == 302 and response["Location"] == ORG_URL
    page = operator_client.get(ORG_URL).content.decode()
    assert "Organization settings saved." in page
    assert "changed successfully" not in page
    assert 'name="_continue"' not in page  # Save already comes back here


def test_saving_the_settings_says_so_in_french(operator_client):
    operator_client.post(reverse("set_language"), {"language": "fr-ca", "next": "/admin/"})
    response = operator_client.post(ORG_URL, org_form(), follow=True)
    assert "Paramètres de l’organisation enregistrés." in response.content.decode()


def test_the_admin_index_opens_with_the_organization_settings(operator_client):
    maple_bank()
    page = operator_client.get("/admin/").content.decode()
    box = re.search(r'<div class="module org-settings-shortcut">.*?</div>', page, re.S)
    assert box, "no organization settings box"
    assert f'href="{ORG_URL}"' in box.group(0) and f'href="{PREVIEW_URL}"' in box.group(0)
    assert "Maple Bank" in box.group(0) and "Integration off" in box.group(0)
    assert page.index("org-settings-shortcut") < page.index('class="app-auth module')


def test_the_index_box_needs_the_permission_to_see_the_settings(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
    client.force_login(user)
    assert "org-settings-shortcut" not in client.get("/admin/").content.decode()


def test_the_settings_page_links_to_the_preview(operator_client):
    page = operator_client.get(ORG_URL).content.decode()
    assert f'href="{PREVIEW_URL}"' in page and "Preview the Link pages" in page


def rows() -> tuple[int, ...]:
    from feeds.models import Connection, SourceAccount

    return tuple(
        m.objects.count() for m in (OrganizationSettings, Company, Connection, SourceAccount)
    )


def test_the_preview_shows_the_link_pages_with_the_saved_settings(operator_client, alice):
    maple_bank(callout_title_en="<b>Keep them private</b>")
    before = rows()
    first = operator_client.get(PREVIEW_URL)
    setup = operator_client.get(SETUP_PREVIEW_URL)
    assert rows() == before
    assert first.status_code == setup.status_code == 200
    assert first["X-Frame-Options"] == "DENY"
    page, setup_page = first.content.decode(), setup.content.decode()
    for shown in (page, setup_page):
        assert "Preview: this is how SMB users see the Link pages" in shown
        assert re.search(r"<body[^>]*>\s*<link[^>]*link-preview\.css", shown), "banner not first"
        assert "Maple Bank" in shown and "Alice Bakery" not in shown
    assert "Connect to QuickBooks Online" in page and "Sample company" in page
    assert "&lt;b&gt;Keep them private&lt;/b&gt;" in setup_page
    assert "We never ask for your QuickBooks password." in setup_page
    assert "Business chequing" in setup_page and "••••4321" in setup_page


def test_the_preview_writes_nothing_even_without_saved_settings(operator_client):
    before = rows()
    response = operator_client.get(SETUP_PREVIEW_URL)
    assert response.status_code == 200 and "Your bank" in response.content.decode()
    assert rows() == before == (0, 0, 0, 0)


def test_get_credentials_in_the_preview_gets_none(alice, enabled, operator):
    # An operator who also opened a Link URL in this browser: pressing the preview's Get
    # credentials must not issue credentials for that connection.
    from django.test import Client

    from tests.test_link import csrf_token_of, open_link

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    open_link(browser, alice.connection)
    token = csrf_token_of(browser.get("/link/accounts"))
    chosen = {"accounts": [alice.checking.pk], "csrfmiddlewaretoken": token}
    assert browser.post("/link/accounts", chosen).status_code == 302
    page = browser.get(SETUP_PREVIEW_URL).content.decode()
    form = re.search(r'<form\b[^>]*action="(/link/credentials)"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no Get credentials form in the preview"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    assert browser.post(form.group(1), fields).status_code == 403
    assert not CredentialSet.objects.exists()


def test_the_preview_speaks_french(operator_client):
    maple_bank(callout_title_fr="Gardez-les secrets", callout_body_fr="Nous ne les demandons pas.")
    operator_client.post(reverse("set_language"), {"language": "fr-ca", "next": "/admin/"})
    page = operator_client.get(SETUP_PREVIEW_URL).content.decode()
    assert "Aperçu\u00a0: voici comment les utilisateurs PME voient les pages Link" in page
    assert "Gardez-les secrets" in page and "Nous ne les demandons pas." in page
    assert "Keep them private" not in page


def test_the_preview_needs_the_permission_to_see_the_settings(client, support_agent, db):
    assert client.get(PREVIEW_URL).status_code == 302  # anonymous: to the login page
    from django.contrib.auth import get_user_model

    smb = get_user_model().objects.create_user("not-staff", password="not-staff-pass-1")
    client.force_login(smb)
    response = client.get(PREVIEW_URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    clerk = get_user_model().objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
    client.force_login(clerk)
    assert client.get(PREVIEW_URL).status_code == 403
    client.force_login(support_agent)
    assert client.get(PREVIEW_URL).status_code == 200


def test_an_unknown_preview_screen_is_not_found(operator_client):
    assert operator_client.get(PREVIEW_URL + "credentials/").status_code == 404
