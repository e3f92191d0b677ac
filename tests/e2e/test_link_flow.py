"""The Link pages in a real browser, as an SMB user goes through them: keyboard only, in English
and in French, with an accessibility check (axe-core) and full-page screenshots of every screen
at 360 px and 1280 px (saved under pytest-playwright's output folder, `test-results/`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from accounts.audit import Actor
from accounts.models import Company, OrganizationSettings
from feeds import feed_rules, link_urls
from feeds.models import CredentialSet
from tests.makers import image_bytes, make_account, make_company, make_connection

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USERNAME = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
PASSWORD = re.compile(r"^[A-Za-z0-9]{16}$")
WIDTHS = (360, 1280)
AXE = Axe()


@pytest.fixture
def org(db):
    return OrganizationSettings.objects.update_or_create(
        pk=1,
        defaults={
            "integration_enabled": True,
            "institution_name": "Maple Bank",
            "logo": image_bytes(),
            "logo_content_type": "image/png",
            "callout_title_en": "Keep them private",
            "callout_body_en": "Maple Bank will never ask you for these credentials.",
            "callout_title_fr": "Gardez-les pour vous",
            "callout_body_fr": "Banque Érable ne vous demandera jamais ces identifiants.",
            "support_contact": "1 800 555-0199",
        },
    )[0]


def open_link(page: Page, live_server, connection) -> None:
    url = link_urls.link_url(connection).replace("http://testserver", live_server.url)
    page.goto(url)
    expect(page).to_have_url(f"{live_server.url}/link/")


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Move the keyboard focus with Tab until it is on `target`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def check_screen(page: Page, output_path: str, name: str) -> int:
    """Screenshots at both widths, and the axe check; returns the number of violations."""
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        # Nothing may overflow sideways on a small phone.
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name} is {scroll}px wide at {width}px"
    page.set_viewport_size({"width": 1280, "height": 800})
    results = AXE.run(page)
    violations = results.response["violations"]
    with (folder.parent / "axe-summary.txt").open("a") as summary:
        found = ", ".join(f"{v['id']} ({v['impact']})" for v in violations) or "none"
        summary.write(f"{name}: {len(violations)} violations: {found}\n")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in bad]
    return results.violations_count


def walk(page: Page, live_server, alice, output_path: str, texts: dict[str, str], lang: str):
    open_link(page, live_server, alice.connection)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("img", name="Maple Bank")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["connect"])
    check_screen(page, output_path, f"{lang}-1-connect")

    tab_to(page, page.get_by_role("link", name=texts["next"]))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/accounts")
    check_screen(page, output_path, f"{lang}-2-accounts")
    # Next with nothing ticked: an error in the user's language.
    tab_to(page, page.get_by_role("button", name=texts["next"]))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(texts["choose_one"])
    check_screen(page, output_path, f"{lang}-2-accounts-error")
    tab_to(page, page.get_by_role("checkbox", name=re.compile("Alice Checking")))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name=texts["next"]))
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/link/setup")
    expect(page.locator(".callout")).to_contain_text(texts["callout"])
    check_screen(page, output_path, f"{lang}-3-setup")
    tab_to(page, page.get_by_role("button", name=texts["get"]))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(texts["credentials"])
    username = page.locator("#username").inner_text()
    password = page.locator("#password").inner_text()
    assert USERNAME.match(username) and PASSWORD.match(password)
    assert CredentialSet.objects.get(username=username).source_accounts.get() == alice.checking
    check_screen(page, output_path, f"{lang}-4-credentials")

    tab_to(page, page.get_by_role("link", name=texts["revoke"]))
    page.keyboard.press("Enter")
    check_screen(page, output_path, f"{lang}-5-revoke")
    tab_to(page, page.get_by_role("button", name=texts["confirm"]))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text(texts["revoked"])
    assert CredentialSet.objects.get(username=username).revoked is not None

    tab_to(page, page.get_by_role("button", name=texts["get"]))
    page.keyboard.press("Enter")
    again = page.locator("#password").inner_text()
    assert PASSWORD.match(again) and again != password
    # A reload never shows a password again.
    page.goto(f"{live_server.url}/link/credentials")
    expect(page.locator("#password")).to_have_count(0)
    assert again not in page.content()


ENGLISH = {
    "connect": "Connect to QuickBooks Online",
    "next": "Next",
    "choose_one": "Choose at least one account to connect.",
    "callout": "Keep them private",
    "get": "Get credentials",
    "credentials": "Your one-time credentials",
    "revoke": "Revoke credentials",
    "confirm": "Yes, revoke them",
    "revoked": "Your credentials were revoked.",
}
FRENCH = {
    "connect": "Connexion à QuickBooks Online",
    "next": "Suivant",
    "choose_one": "Choisissez au moins un compte à connecter.",
    "callout": "Gardez-les pour vous",
    "get": "Obtenir les identifiants",
    "credentials": "Vos identifiants à usage unique",
    "revoke": "Révoquer les identifiants",
    "confirm": "Oui, les révoquer",
    "revoked": "Vos identifiants ont été révoqués.",
}


def test_the_whole_flow_in_english_with_the_keyboard_only(
    browser, live_server, alice, org, output_path
):
    page = browser.new_page(locale="en-US")
    walk(page, live_server, alice, output_path, ENGLISH, "en-ca")
    page.close()


def test_the_whole_flow_in_french_with_the_keyboard_only(
    browser, live_server, alice, org, output_path
):
    page = browser.new_page(locale="fr-CA")
    walk(page, live_server, alice, output_path, FRENCH, "fr-ca")
    page.close()


def test_the_language_can_be_switched_mid_flow_and_is_remembered(
    browser, live_server, bob, org, output_path
):
    page = browser.new_page(locale="en-CA")
    open_link(page, live_server, bob.connection)
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("$100.00")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Français"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/accounts")
    expect(page.locator("html")).to_have_attribute("lang", "fr-ca")
    expect(page.get_by_text("100,00\u00a0$")).to_be_visible()
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Suivant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer QuickBooks")
    expect(page.get_by_role("button", name="English")).to_be_visible()
    page.close()


def test_a_company_without_a_country_answers_where_it_is_with_the_keyboard(
    browser, live_server, org, output_path
):
    company = make_company("Carol Café", "", client="carol")
    connection = make_connection(company)
    make_account(connection, "carol-chq", account_name="Carol Chèques", currency="CAD")
    page = browser.new_page(locale="fr-CA")
    open_link(page, live_server, connection)
    tab_to(page, page.get_by_role("link", name="Suivant"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/location")
    question = page.get_by_role("group", name="Où votre entreprise est-elle située?")
    expect(question).to_be_visible()
    check_screen(page, output_path, "fr-1-location")
    # Next without an answer: the error, in French.
    tab_to(page, page.get_by_role("button", name="Suivant"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "Choisissez l’endroit où votre entreprise est située."
    )
    check_screen(page, output_path, "fr-1-location-error")
    # Tab reaches the radio group; the arrow keys move within it and select.
    tab_to(page, page.get_by_role("radio", name="États-Unis"))
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="Canada")).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Suivant"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/accounts")
    expect(page.get_by_role("checkbox", name=re.compile("Carol Chèques"))).to_be_visible()
    assert Company.objects.get(pk=company.pk).country == "CA"
    page.close()


def test_the_status_panel_updates_itself_until_the_accounts_are_connected(
    browser, live_server, alice, org, output_path
):
    page = browser.new_page(locale="en-CA")
    open_link(page, live_server, alice.connection)
    page.goto(f"{live_server.url}/link/accounts")
    page.get_by_role("checkbox", name=re.compile("Alice Checking")).check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Get credentials").click()
    badge = page.locator("#status .badge")
    expect(badge).to_have_text("pending")
    feed_rules.link_feed(
        alice.checking,
        target_account_id="35",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=timezone.localdate(),
        actor=Actor.system(),
    )
    expect(badge).to_have_text("connected", timeout=10_000)
    expect(page.locator("#status-message")).to_have_text(
        "All set! Your accounts are connected to QuickBooks Online."
    )
    check_screen(page, output_path, "en-4-connected")
    page.close()


def test_the_copy_buttons_copy_the_credentials(browser, live_server, alice, org):
    context = browser.new_context(locale="en-CA")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    open_link(page, live_server, alice.connection)
    page.goto(f"{live_server.url}/link/accounts")
    page.get_by_role("checkbox", name=re.compile("Alice Visa")).check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Get credentials").click()
    page.get_by_role("button", name="Copy password").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#password").inner_text()
    context.close()


def test_a_bad_link_shows_its_own_page_in_french_and_keeps_it_across_the_toggle(
    browser, live_server, alice, org, output_path
):
    page = browser.new_page(locale="fr-CA")
    response = page.goto(f"{live_server.url}/link/start?token=tampered")
    assert response.status == 401
    expect(page.get_by_role("heading", level=1)).to_have_text("Ce lien n’est pas valide")
    check_screen(page, output_path, "fr-problem-invalid")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    assert "token" not in page.url
    page.close()
