"""The journey in pull mode, in a real browser over a live server: the SMB user gets credentials
on the Link pages and links an account in the QBO sandbox, which pulls it through the IDX API;
Update pulls what the client wrote since, once; after the credentials are revoked the sandbox
says so; Disconnect stops the pulls."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from accounts.audit import Actor
from accounts.models import OrganizationSettings
from feeds import credentials
from tests.e2e.test_journey import get_credentials, sign_in_to_sandbox
from tests.makers import make_transaction

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

KEY = "sandbox-partner-key"


@pytest.fixture
def pull_wired(settings, live_server, alice):
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"integration_enabled": True, "institution_name": "Maple Bank"}
    )
    settings.LINKSITE_URL = live_server.url
    settings.QBO_APP_URL = f"{live_server.url}/qbo-sandbox/"
    settings.QBO_DELIVERY = frozenset({"pull"})
    settings.IDX_PARTNER_KEYS = [KEY]
    settings.QBO_SANDBOX_PARTNER_KEY = KEY
    settings.QBO_SANDBOX_INSTITUTION = "Maple Bank"
    cache.clear()
    yield alice
    cache.clear()


def test_qbo_pulls_a_linked_account_on_link_and_on_update(browser, live_server, pull_wired):
    alice = pull_wired
    make_transaction(alice.checking, "pt-1", description="Flour")
    context = browser.new_context(locale="en-CA")
    username, password = get_credentials(context.new_page(), live_server, alice)

    qbo = context.new_page()
    sign_in_to_sandbox(qbo, live_server, username, password)
    expect(qbo.locator("select[id^=target-]")).to_have_count(2)
    start = timezone.localdate() - dt.timedelta(days=3)
    qbo.locator("#target-0").select_option(label="Checking (Bank)")
    qbo.locator("#start-0").select_option(value=start.isoformat())
    qbo.locator("#link-1").uncheck()
    qbo.get_by_role("button", name="Connect").click()
    checking = qbo.locator(".feed").filter(has_text="Checking")
    expect(checking.get_by_role("cell", name="Flour")).to_be_visible()
    expect(checking).to_contain_text("Pulled by QuickBooks, last at")

    make_transaction(alice.checking, "pt-2", description="Catering")
    checking.get_by_role("button", name="Update").click()
    expect(qbo.get_by_text("Update done: 1 new transaction received.")).to_be_visible()
    checking = qbo.locator(".feed").filter(has_text="Checking")
    expect(checking.get_by_role("cell", name="Catering")).to_be_visible()
    expect(checking).to_contain_text("2 transactions received")

    credentials.revoke_all(alice.connection, actor=Actor.smb(alice.connection.pk))
    cache.clear()
    qbo.locator(".feed").filter(has_text="Checking").get_by_role("button", name="Update").click()
    expect(qbo.get_by_role("alert").first).to_contain_text("no longer accepts the credentials")

    qbo.locator(".feed").filter(has_text="Checking").get_by_role(
        "link", name="Edit account info"
    ).click()
    qbo.get_by_label("Disconnect this account on save").check()
    qbo.get_by_role("button", name="Save and Close").click()
    expect(qbo.locator(".feed.is-off")).to_have_count(1)
    context.close()
