"""The Link pages in a real browser, as an SMB user goes through them: keyboard only, in English
and in French, with an accessibility check (axe-core) and full-page screenshots of every screen
at 390 px and 1280 px, `{lang}-{n}-{screen}-{width}.png` (saved under pytest-playwright's output
folder, `test-results/`). On every screen: one main action, nothing wider than the phone, nothing
cut off in the header (issue 17)."""

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
# No look-alikes: no I, l, 1, O, o, 0 (item 2).
PASSWORD = re.compile(r"^[A-HJ-NP-Za-km-np-z2-9]{16}$")
WIDTHS = (390, 1280)
AXE = Axe()
RETURN_URL = "https://app.maplebank.example/business"


@pytest.fixture
def org(db):
    return OrganizationSettings.objects.update_or_create(
        pk=1,
        defaults={
            "integration_enabled": True,
            "institution_name": "Maple Bank",
            "institution_name_fr": "Banque Maple",
            "logo": image_bytes(),
            "logo_content_type": "image/png",
            "callout_title_en": "Keep them private",
            "callout_body_en": "We will never ask for them. Questions? Call 1 800 555-0199.",
            "callout_title_fr": "Gardez-les pour vous",
            "callout_body_fr": "Nous ne les demanderons jamais. Des questions? 1 800 555-0199.",
            "support_contact": "support@maplebank.example · 1 800 555-0199",
            "return_url": RETURN_URL,
            "privacy_url": "https://maplebank.example/privacy",
            "terms_url": "https://maplebank.example/terms",
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


# Elements whose content is wider than their box (text cut off or scrolled) in the header.
CUT_IN_HEADER = """() => [...document.querySelectorAll('header *')]
  .filter(el => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
  .map(el => el.outerHTML.slice(0, 80))"""
# The step indicator on one row: every step's dot at the same height.
STEP_ROWS = """() => new Set([...document.querySelectorAll('.progress .dot')]
  .map(el => Math.round(el.getBoundingClientRect().top))).size"""


def main_actions(page: Page) -> list[str]:
    """The visible filled buttons (secondary ones are outlined, and links are plain)."""
    buttons = page.locator(".button:not(.button-secondary)")
    return [b.inner_text().strip() for b in buttons.all() if b.is_visible()]


def check_screen(page: Page, output_path: str, name: str, actions: int = 1) -> int:
    """At both widths: one main action (`actions`), no sideways scroll, nothing cut off in the
    header, the step indicator on one row, a screenshot; then the axe check. Returns the number
    of axe violations (serious and critical ones fail)."""
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name} is {scroll}px wide at {width}px"
        assert page.evaluate(CUT_IN_HEADER) == [], f"{name}: header cut off at {width}px"
        assert len(main_actions(page)) == actions, (name, width, main_actions(page))
        if page.locator(".progress").count():
            assert page.evaluate(STEP_ROWS) == 1, f"{name}: the steps wrap at {width}px"
            current = page.locator(".progress [aria-current=step] .label")
            if current.count():  # none on the completion screen: every step is done
                expect(current).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    results = AXE.run(page)
    violations = results.response["violations"]
    with (folder.parent / "axe-summary.txt").open("a") as summary:
        found = ", ".join(f"{v['id']} ({v['impact']})" for v in violations) or "none"
        summary.write(f"{name}: {len(violations)} violations: {found}\n")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in bad]
    return results.violations_count


def linked_in_qbo(account) -> None:
    """What QBO's link does on our side (the sandbox's pages are the journey tests')."""
    feed_rules.link_feed(
        account,
        target_account_id="35",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=timezone.localdate(),
        actor=Actor.system(),
    )


def check_help(page: Page) -> None:
    """The support contact on the screen, as links (item 11)."""
    help_ = page.locator(".help")
    expect(help_.get_by_role("link", name="support@maplebank.example")).to_have_attribute(
        "href", "mailto:support@maplebank.example"
    )
    expect(help_.get_by_role("link", name="1 800 555-0199")).to_have_attribute(
        "href", "tel:+18005550199"
    )


def walk(page: Page, live_server, alice, output_path: str, texts: dict[str, str], lang: str):
    open_link(page, live_server, alice.connection)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    # The bank once in the header: its logo, named in the page's language (items 8 and 13).
    expect(page.get_by_role("img", name=texts["bank"])).to_be_visible()
    expect(page.locator("header .institution")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["connect"])
    expect(page.get_by_role("heading", name=texts["protected"])).to_be_visible()
    expect(page.get_by_role("link", name=texts["cancel"])).to_have_attribute("href", RETURN_URL)
    expect(page.get_by_role("link", name=texts["privacy"])).to_be_visible()
    check_help(page)
    check_screen(page, output_path, f"{lang}-1-connect")

    tab_to(page, page.get_by_role("link", name=texts["next"], exact=True))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/accounts")
    # A card's balance says what is owed (item 14); no badge on accounts not chosen (item 10).
    expect(page.get_by_text(texts["owed"])).to_be_visible()
    expect(page.locator(".accounts .badge")).to_have_count(0)
    check_screen(page, output_path, f"{lang}-2-accounts")
    # Next with nothing ticked: an error in the user's language.
    tab_to(page, page.get_by_role("button", name=texts["next"]))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(texts["choose_one"])
    check_screen(page, output_path, f"{lang}-2-accounts-error")
    # Select all ticks both; then keep only the checking account.
    tab_to(page, page.get_by_role("link", name=texts["select_all"]))
    page.keyboard.press("Enter")
    expect(page.get_by_role("checkbox", name=re.compile("Alice Visa"))).to_be_checked()
    tab_to(page, page.get_by_role("checkbox", name=re.compile("Alice Visa")))
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name=re.compile("Alice Checking"))).to_be_checked()
    tab_to(page, page.get_by_role("button", name=texts["next"]))
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/link/setup")
    callout = page.locator(".callout")
    expect(callout).to_contain_text(texts["callout"])
    expect(callout.get_by_role("link", name="1 800 555-0199")).to_have_attribute(
        "href", "tel:+18005550199"
    )
    check_help(page)
    check_screen(page, output_path, f"{lang}-3-setup")
    tab_to(page, page.get_by_role("button", name=texts["get"]))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(texts["credentials"])
    username = page.locator("#username").inner_text()
    password = page.locator("#password").inner_text()
    assert USERNAME.match(username) and PASSWORD.match(password), (username, password)
    assert CredentialSet.objects.get(username=username).source_accounts.get() == alice.checking
    # The main action is QuickBooks, in a new tab (item 1); the expiry names its zone (item 14).
    qbo = page.get_by_role("link", name=texts["open_qbo"])
    expect(qbo).to_have_attribute("target", "_blank")
    expect(page.locator(".expiry")).to_contain_text(texts["zone"])
    expect(page.locator("ol.steps > li")).to_have_count(3)
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
    # A reload never shows a password again, but keeps the QuickBooks steps (item 5).
    page.goto(f"{live_server.url}/link/credentials")
    expect(page.locator("#password")).to_have_count(0)
    assert again not in page.content()
    expect(page.locator("ol.steps > li")).to_have_count(3)
    expect(page.get_by_role("link", name=texts["open_qbo"])).to_be_visible()
    check_screen(page, output_path, f"{lang}-6-credentials-reload")

    # Linked in QuickBooks: the live status offers the completion screen.
    linked_in_qbo(alice.checking)
    expect(page.locator("#status-message")).to_have_text(texts["all_set"], timeout=10_000)
    tab_to(page, page.get_by_role("link", name=texts["continue"]))
    check_screen(page, output_path, f"{lang}-7-credentials-connected")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/link/done")
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["done"])
    back = page.get_by_role("link", name=texts["back"])
    expect(back).to_have_attribute("href", RETURN_URL)
    check_screen(page, output_path, f"{lang}-8-done")


ENGLISH = {
    "bank": "Maple Bank",
    "connect": "Connect to QuickBooks Online",
    "protected": "What stays protected",
    "cancel": "Cancel",
    "privacy": "Privacy policy",
    "next": "Next",
    "owed": "$1,873.52 owed",
    "choose_one": "Choose at least one account to connect.",
    "select_all": "Select all",
    "callout": "Keep them private",
    "get": "Get credentials",
    "credentials": "Your one-time credentials",
    "open_qbo": "Open QuickBooks Online",
    "zone": re.compile(r"\d:\d\d\W[AP]M E[SD]T"),
    "revoke": "Revoke credentials",
    "confirm": "Yes, revoke them",
    "revoked": "Your credentials were revoked.",
    "all_set": "All set! Your accounts are connected to QuickBooks Online.",
    "continue": "Continue",
    "done": "You’re all set",
    "back": "Back to Maple Bank",
}
FRENCH = {
    "bank": "Banque Maple",
    "connect": "Connexion à QuickBooks Online",
    "protected": "Ce qui reste protégé",
    "cancel": "Annuler",
    "privacy": "Politique de confidentialité",
    "next": "Suivant",
    "owed": "1\u00a0873,52\u00a0$\u00a0US dû",
    "choose_one": "Choisissez au moins un compte à connecter.",
    "select_all": "Tout sélectionner",
    "callout": "Gardez-les pour vous",
    "get": "Obtenir les identifiants",
    "credentials": "Vos identifiants à usage unique",
    "open_qbo": "Ouvrir QuickBooks Online",
    "zone": re.compile(r"\d h \d\d H[NA]E"),
    "revoke": "Révoquer les identifiants",
    "confirm": "Oui, les révoquer",
    "revoked": "Vos identifiants ont été révoqués.",
    "all_set": "C’est fait! Vos comptes sont connectés à QuickBooks Online.",
    "continue": "Continuer",
    "done": "Tout est prêt",
    "back": "Retour à Banque Maple",
}


@pytest.fixture
def card_owing(alice):
    alice.card.balance = "-1873.52"
    alice.card.save()
    return alice


def test_the_whole_flow_in_english_with_the_keyboard_only(
    browser, live_server, card_owing, org, output_path
):
    page = browser.new_page(locale="en-US")
    walk(page, live_server, card_owing, output_path, ENGLISH, "en-ca")
    page.close()


def test_the_whole_flow_in_french_with_the_keyboard_only(
    browser, live_server, card_owing, org, output_path
):
    page = browser.new_page(locale="fr-CA")
    walk(page, live_server, card_owing, output_path, FRENCH, "fr-ca")
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
    linked_in_qbo(alice.checking)
    expect(badge).to_have_text("connected", timeout=10_000)
    expect(page.locator("#status-message")).to_have_text(
        "All set! Your accounts are connected to QuickBooks Online."
    )
    check_screen(page, output_path, "en-7-status-connected")
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
    check_screen(page, output_path, "fr-9-problem-invalid")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    assert "token" not in page.url
    page.close()
