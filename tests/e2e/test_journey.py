"""The whole journey across both apps in a real browser, over a live server: the SMB user gets
credentials on the Link pages, links two accounts in the QBO sandbox, sees them connected on the
Link page; the client backend sees them through the API and writes transactions, which a real
worker delivers when the user presses Update; a disconnect in the sandbox makes the next write
fail."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import OrganizationSettings
from feeds import link_urls
from feeds.models import CredentialSet
from tests.conftest import Api, issue_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
AXE = Axe()


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the screen as it stands."""
    violations = AXE.run(page).response["violations"]
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in bad]


@pytest.fixture
def wired(settings, live_server, alice):
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"integration_enabled": True, "institution_name": "Maple Bank"}
    )
    settings.LINKSITE_URL = live_server.url
    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    settings.QBO_APP_URL = f"{live_server.url}/qbo-sandbox/"
    return alice


def get_credentials(page: Page, live_server, alice) -> tuple[str, str]:
    page.goto(link_urls.link_url(alice.connection).replace("http://testserver", live_server.url))
    page.get_by_role("link", name="Next").click()
    page.get_by_role("checkbox", name=re.compile("Alice Checking")).check()
    page.get_by_role("checkbox", name=re.compile("Alice Visa")).check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Get credentials").click()
    return page.locator("#username").inner_text(), page.locator("#password").inner_text()


def sign_in_to_sandbox(qbo: Page, live_server, username: str, password: str) -> None:
    qbo.goto(f"{live_server.url}/qbo-sandbox/banking")
    qbo.get_by_role("link", name="Link account").click()
    qbo.get_by_label("Enter your bank name or URL").fill("maple")
    qbo.get_by_role("button", name="Search").click()
    expect(qbo.get_by_text("Maple Bank").first).to_be_visible()
    qbo.get_by_role("button", name="Select").click()
    qbo.get_by_role("checkbox").check()
    qbo.get_by_role("button", name="Continue").click()
    qbo.get_by_label("Username").fill(username)
    qbo.get_by_label("Password").fill(password)
    qbo.get_by_role("button", name="Continue").click()


def test_an_smb_user_links_two_accounts_and_qbo_disconnects_one(
    browser, live_server, wired, clusters
):
    alice = wired
    alice.card.balance = Decimal("-1873.52")  # a card's purchases: what is owed
    alice.card.save(update_fields=["balance"])
    context = browser.new_context(locale="en-CA")
    link_page = context.new_page()
    username, password = get_credentials(link_page, live_server, alice)

    qbo = context.new_page()
    # A wrong password first: the sandbox says how many tries are left before linksite locks.
    sign_in_to_sandbox(qbo, live_server, username, "not-the-password")
    expect(qbo.get_by_role("alert")).to_contain_text(
        "4 tries left before these credentials are locked."
    )
    assert_accessible(qbo)
    qbo.get_by_label("Password").fill(password)
    qbo.get_by_role("button", name="Continue").click()
    # The bank's account types and balances in words and money, not the protocol's values.
    expect(qbo.get_by_text("Checking · USD · Balance: $100.00")).to_be_visible()
    expect(qbo.get_by_text("Credit card · USD · Owed: $1,873.52")).to_be_visible()
    assert_accessible(qbo)
    start = timezone.localdate() - dt.timedelta(days=3)
    rows = qbo.locator("select[id^=target-]")
    expect(rows).to_have_count(2)
    for index, target in enumerate(("Checking (Bank)", "Visa (Credit Card)")):
        qbo.locator(f"#target-{index}").select_option(label=target)
        qbo.locator(f"#start-{index}").select_option(value=start.isoformat())
    qbo.get_by_role("button", name="Connect").click()
    expect(qbo.get_by_role("heading", name="Bank Transactions")).to_be_visible()
    expect(qbo.get_by_role("status").first).to_contain_text("2 accounts linked.")
    expect(qbo.locator(".feed")).to_have_count(2)

    # The Link page, still open in the other tab, sees both accounts connected by itself.
    connected = re.compile("^connected$", re.IGNORECASE)
    expect(link_page.locator("#status .badge")).to_have_text([connected, connected])
    expect(link_page.locator("#status-message")).to_contain_text("All set!")

    api = Api(Client(), issue_key("alice"))
    base = f"/companies/{alice.company.pk}/connections/{alice.connection.pk}"
    accounts = api.get(f"{base}/connectionInfo/bankFeedAccounts").json()
    assert [(a["id"], a["status"], a["feedStartDate"]) for a in accounts] == [
        ("alice-chk", "connected", start.isoformat()),
        ("alice-visa", "connected", start.isoformat()),
    ]
    assert accounts[0]["targetAccountName"] == "Checking"
    assert api.get(base).json()["status"] == "Linked"

    # The fintech writes transactions; the SMB user presses Update in QuickBooks; a real worker
    # delivers them, and they show in the sandbox's Bank Transactions.
    today = timezone.localdate().isoformat()
    written = api.post(
        f"{base}/push/bankAccounts/alice-chk/bankTransactions",
        {
            "accountId": "alice-chk",
            "transactions": [
                {"id": "jt-1", "clearedOnDate": today, "amount": -18.4, "description": "Flour"},
                {"id": "jt-2", "clearedOnDate": today, "amount": 250, "description": "Catering"},
            ],
        },
    )
    assert written.json()["status"] == "Success"
    checking = qbo.locator(".feed").filter(has_text="Checking")
    checking.get_by_role("button", name="Update").click()
    expect(qbo.get_by_text("Update requested")).to_be_visible()
    # The worker starts only now, so the page is seen waiting; it reloads by itself once the
    # push has come, with no reload from the user.
    expect(checking.get_by_role("status")).to_contain_text("Waiting for your bank's transactions")
    expect(checking.get_by_role("link", name="Refresh")).to_be_visible()
    assert_accessible(qbo)
    clusters()
    expect(checking.get_by_role("cell", name="Catering")).to_be_visible(timeout=30_000)
    expect(checking.get_by_role("cell", name="Flour")).to_be_visible()
    expect(checking).to_contain_text("2 transactions received")
    expect(checking).to_contain_text("2 new transactions received since")
    expect(checking.get_by_role("link", name="Refresh")).to_have_count(0)

    # The same credentials cannot be used twice.
    sign_in_to_sandbox(qbo, live_server, username, password)
    expect(qbo.get_by_text("We couldn't verify these credentials")).to_be_visible()
    assert CredentialSet.objects.get(username=username).used is not None

    # Disconnect the checking account in QuickBooks: the next write for it fails at once.
    qbo.goto(f"{live_server.url}/qbo-sandbox/banking")
    qbo.locator(".feed").filter(has_text="Checking").get_by_role(
        "link", name="Edit account info"
    ).click()
    qbo.get_by_label("Disconnect this account on save").check()
    qbo.get_by_role("button", name="Save and Close").click()
    expect(qbo.locator(".feed.is-off")).to_have_count(1)
    write = api.post(
        f"{base}/push/bankAccounts/alice-chk/bankTransactions",
        {
            "accountId": "alice-chk",
            "transactions": [
                {
                    "id": "after-disconnect",
                    "clearedOnDate": timezone.localdate().isoformat(),
                    "amount": "-4.25",
                    "description": "Coffee",
                }
            ],
        },
    )
    assert write.json()["status"] == "Failed"
    assert "disconnected in QuickBooks" in write.json()["errorMessage"]
    context.close()
