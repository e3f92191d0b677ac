"""The Link pages (`product.md` §2, §4, §5; issue 4), through Django's test client: the signed
Link URL and its problem pages, the four screens in English and French, the account choice, the
callout, one-time credentials, revoking, the live status, and the security headers and CSRF rules
that the pages promise. The browser walk-through lives in `tests/e2e/`."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import pytest
import time_machine
from babel.messages.extract import DEFAULT_KEYWORDS, extract_python
from django.contrib.auth.hashers import check_password
from django.db import connection as db_connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation.template import templatize

from accounts import companies
from accounts.audit import Actor
from accounts.models import ActorType, AuditEvent, Company, OrganizationSettings
from feeds import formatting, lifecycle, link_urls
from feeds.feed_rules import link_feed
from feeds.models import (
    AccountType,
    Connection,
    CredentialSet,
    SourceAccountStatus,
)
from tests.makers import (
    image_bytes,
    make_account,
    make_company,
    make_connection,
    make_credentials,
)

ROOT = Path(__file__).resolve().parent.parent
LINK_TEMPLATES = ROOT / "templates" / "link"
# What the Link pages take from the templates shared with other pages.
SHARED_TEMPLATES = [ROOT / "templates" / "base.html", ROOT / "templates" / "_language_toggle.html"]
LINK_VIEWS = ROOT / "feeds" / "link" / "views.py"
LINK_FORMS = ROOT / "feeds" / "link" / "forms.py"

EN, FR = "en-ca", "fr-ca"
LANGS = [EN, FR]
ACCEPT = {EN: "en-CA", FR: "fr-CA"}
# The toggle names the *other* language.
TOGGLE = {EN: "Français", FR: "English"}
USERNAME = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
NBSP = "\u00a0"


# Helpers -----------------------------------------------------------------------------------------


def tr(lang: str, english: str, french: str) -> str:
    return english if lang == EN else french


def start_path(connection: Connection) -> str:
    """The path and query of a fresh Link URL, as the test client wants it."""
    return link_urls.link_url(connection).removeprefix("http://testserver")


def token_of(path: str) -> str:
    return path.split("token=", 1)[1]


def open_link(client: Client, connection: Connection, **extra):
    response = client.get(start_path(connection), **extra)
    assert response.status_code == 302, response.content.decode()
    return response


def set_language(client: Client, lang: str) -> None:
    response = client.post("/link/language", {"language": lang, "next": "/link/"})
    assert response.status_code == 302


def choose(client: Client, *accounts) -> None:
    response = client.post("/link/accounts", {"accounts": [a.pk for a in accounts]})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/link/setup"


def connect(account) -> None:
    """What a successful link in QBO does to a source account."""
    link_feed(
        account,
        target_account_id="1",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=timezone.localdate(),
        actor=Actor.system(),
    )


def org_update(**fields) -> None:
    OrganizationSettings.objects.filter(pk=1).update(**fields)


def bump_generation(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(link_generation=F("link_generation") + 1)


def deauthorize(connection: Connection) -> None:
    lifecycle.transition(connection, "Deauthorized", actor=Actor.system())


def body(response) -> str:
    return response.content.decode()


def html_lang(response) -> str:
    match = re.search(r"<html\b[^>]*\blang=\"([^\"]+)\"", body(response))
    assert match, "no <html lang>"
    return match.group(1)


def password_of(response) -> str:
    match = re.search(r'<code id="password"[^>]*>([^<]+)</code>', body(response))
    assert match, "no password on the page"
    return match.group(1).strip()


def username_of(response) -> str:
    match = re.search(r'<code id="username"[^>]*>([^<]+)</code>', body(response))
    assert match, "no username on the page"
    return match.group(1).strip()


def csrf_token_of(response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body(response))
    assert match, "no CSRF token in the page"
    return match.group(1)


def visible_text(markup: str) -> str:
    """What a person reads or hears: text nodes plus the attributes screen readers and scripts
    show (alt, aria-label, title, placeholder, the copy buttons' "Copied"). Elements marked
    `lang="en"` (the "English" toggle on French pages) are English on purpose and left out."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S | re.I)
    markup = re.sub(r"<!--.*?-->", " ", markup, flags=re.S)
    markup = re.sub(r'<(\w+)\b[^>]*\slang="en"[^>]*>.*?</\1>', " ", markup, flags=re.S)
    attributes = re.findall(r'\s(?:alt|aria-label|title|placeholder|data-done)="([^"]*)"', markup)
    text = re.sub(r"<[^>]+>", " ", markup)
    # Only ASCII white space is collapsed: no-break spaces are part of French typography.
    return re.sub(r"[ \t\r\n\f\v]+", " ", html.unescape(" ".join([text, *attributes]))).strip()


def assert_private(response) -> None:
    assert response["Referrer-Policy"] == "no-referrer", response.get("Referrer-Policy")
    assert "no-store" in response.get("Cache-Control", ""), response.get("Cache-Control")


def script_src(response) -> str:
    for directive in response["Content-Security-Policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        if name == "script-src":
            return value
    # Without script-src the browser falls back to default-src.
    for directive in response["Content-Security-Policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        if name == "default-src":
            return value
    raise AssertionError("no script-src nor default-src in the CSP")


def assert_page(response, lang: str, status: int = 200) -> str:
    """A Link page: status, HTML, right language, private; returns its visible text."""
    assert response.status_code == status, (response.status_code, body(response)[:2000])
    assert response["Content-Type"].startswith("text/html")
    assert html_lang(response) == lang
    assert_private(response)
    return visible_text(body(response))


@pytest.fixture
def session(client, alice, enabled):
    """alice's Link session, opened from a fresh Link URL."""
    open_link(client, alice.connection)
    return client


def screen(client: Client, name: str, alice):
    """GET or POST one of the screens; the session must already exist."""
    if name in ("setup", "credentials", "credentials-post"):
        choose(client, alice.checking)
    return {
        "connect": lambda: client.get("/link/"),
        "accounts": lambda: client.get("/link/accounts"),
        "setup": lambda: client.get("/link/setup"),
        "credentials": lambda: client.get("/link/credentials"),
        "credentials-post": lambda: client.post("/link/credentials"),
        "revoke": lambda: client.get("/link/revoke"),
    }[name]()


SCREENS = ["connect", "accounts", "setup", "credentials", "credentials-post", "revoke"]


# Start: the signed Link URL ----------------------------------------------------------------------


def test_it_opens_a_session_and_drops_the_token_from_the_address(client, alice, enabled):
    path = start_path(alice.connection)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/link/"
    assert "token" not in response["Location"]
    assert token_of(path) not in response["Location"]
    assert_private(response)
    data = client.session["link"]
    assert data["connection"] == str(alice.connection.pk)
    assert data["generation"] == alice.connection.link_generation
    assert data["chosen"] == []
    assert client.get("/link/").status_code == 200


def test_it_keeps_the_session_when_the_link_url_has_expired(client, alice, enabled):
    begin = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
    with time_machine.travel(begin, tick=False):
        open_link(client, alice.connection)
    with time_machine.travel(begin + dt.timedelta(minutes=61), tick=False):
        response = client.get("/link/accounts")
    assert response.status_code == 200
    assert "Alice Checking" in body(response)


def test_opening_the_link_is_audited(client, alice, enabled):
    open_link(client, alice.connection)
    event = AuditEvent.objects.get(action="link.opened")
    assert event.object_id == str(alice.connection.pk)
    assert event.actor_type == ActorType.SMB
    assert event.company_id == alice.company.pk


def test_a_second_link_url_rebinds_the_session_to_its_connection(client, alice, bob, enabled):
    open_link(client, alice.connection)
    open_link(client, bob.connection)
    page = body(client.get("/link/accounts"))
    assert "Bob Chèques" in page
    assert "Alice Checking" not in page


# Problem pages -----------------------------------------------------------------------------------

PROBLEMS = {
    # kind: (status, English words, French words)
    "expired": (401, "This link has expired", "Ce lien a expiré"),
    "invalid": (401, "This link is not valid", "Ce lien n’est pas valide"),
    "revoked": (401, "This link is no longer valid", "Ce lien n’est plus valide"),
    "missing": (401, "Your session has ended", "Votre session a pris fin"),
    "unavailable": (403, "not available", "n’est pas offerte"),
    "deauthorized": (410, "This connection was closed", "Cette connexion a été fermée"),
}


def _expired(client, alice, headers):
    begin = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
    with time_machine.travel(begin, tick=False):
        path = start_path(alice.connection)
    with time_machine.travel(begin + dt.timedelta(minutes=61), tick=False):
        return client.get(path, **headers), path


def _tampered(client, alice, headers):
    path = start_path(alice.connection)
    damaged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    return client.get(damaged, **headers), path


def _no_token(client, alice, headers):
    return client.get("/link/start", **headers), start_path(alice.connection)


def _revoked_before_start(client, alice, headers):
    path = start_path(alice.connection)
    bump_generation(alice.connection)
    return client.get(path, **headers), path


def _revoked_after_start(client, alice, headers):
    path = start_path(alice.connection)
    assert client.get(path, **headers).status_code == 302
    bump_generation(alice.connection)
    return client.get("/link/accounts", **headers), path


def _no_session(client, alice, headers):
    return client.get("/link/", **headers), start_path(alice.connection)


def _off_at_start(client, alice, headers):
    org_update(integration_enabled=False)
    path = start_path(alice.connection)
    return client.get(path, **headers), path


def _off_after_start(client, alice, headers):
    path = start_path(alice.connection)
    assert client.get(path, **headers).status_code == 302
    org_update(integration_enabled=False)
    return client.get("/link/accounts", **headers), path


def _deauthorized_at_start(client, alice, headers):
    path = start_path(alice.connection)
    deauthorize(alice.connection)
    return client.get(path, **headers), path


def _deauthorized_after_start(client, alice, headers):
    path = start_path(alice.connection)
    assert client.get(path, **headers).status_code == 302
    deauthorize(alice.connection)
    return client.get("/link/", **headers), path


SCENARIOS = {
    "expired": ("expired", _expired),
    "tampered": ("invalid", _tampered),
    "no-token": ("invalid", _no_token),
    "revoked-before-start": ("revoked", _revoked_before_start),
    "revoked-after-start": ("revoked", _revoked_after_start),
    "no-session": ("missing", _no_session),
    "off-at-start": ("unavailable", _off_at_start),
    "off-after-start": ("unavailable", _off_after_start),
    "deauthorized-at-start": ("deauthorized", _deauthorized_at_start),
    "deauthorized-after-start": ("deauthorized", _deauthorized_after_start),
}
START_SCENARIOS = [
    "expired",
    "tampered",
    "revoked-before-start",
    "off-at-start",
    "deauthorized-at-start",
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_it_explains_each_problem_with_its_status_in_the_users_language(
    client, alice, enabled, scenario, lang
):
    kind, run = SCENARIOS[scenario]
    status, english, french = PROBLEMS[kind]
    response, _path = run(client, alice, {"HTTP_ACCEPT_LANGUAGE": ACCEPT[lang]})
    text = assert_page(response, lang, status)
    assert tr(lang, english, french) in text
    # It says what to do: go back to the operator.
    assert "Maple Bank" in text
    assert f'lang="{tr(lang, "fr", "en")}">{TOGGLE[lang]}</button>' in body(response)
    # Nothing about the company's accounts leaks out.
    for secret in ("Alice Checking", "000123456789", "6789", "Alice Bakery"):
        assert secret not in body(response)


def test_a_problem_page_never_repeats_the_link_token(client, alice, enabled):
    """The token is the secret of a Link URL: a page answering it must not copy it into its
    HTML (the language form's `next` field would send it back into the address bar)."""
    leaks = []
    for scenario in START_SCENARIOS:
        org_update(integration_enabled=True)
        Connection.objects.filter(pk=alice.connection.pk).update(status="PendingAuth")
        alice.connection.refresh_from_db()
        kind, run = SCENARIOS[scenario]
        response, path = run(Client(), alice, {})
        assert response.status_code == PROBLEMS[kind][0], scenario
        token = token_of(path)
        if token in body(response) or unquote(token) in html.unescape(body(response)):
            leaks.append(f"{scenario} ({response.status_code})")
    assert leaks == []


def test_a_problem_page_shows_the_support_contact(client, alice, enabled):
    org_update(support_contact="help@maple.example")
    response = client.get("/link/", HTTP_ACCEPT_LANGUAGE="fr-CA")
    assert response.status_code == 401
    assert "help@maple.example" in visible_text(body(response))


def test_a_revoked_link_cannot_open_a_session(client, alice, enabled):
    path = start_path(alice.connection)
    bump_generation(alice.connection)
    assert client.get(path).status_code == 401
    assert "link" not in client.session
    assert client.get("/link/accounts").status_code == 401
    assert not AuditEvent.objects.filter(action="link.opened").exists()


def test_a_fresh_link_url_works_after_the_generation_was_raised(client, alice, enabled):
    bump_generation(alice.connection)
    alice.connection.refresh_from_db()
    open_link(client, alice.connection)
    assert client.get("/link/").status_code == 200


# Language ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept, lang",
    [
        ("fr-CA", FR),
        ("fr", FR),
        ("fr-FR,en;q=0.5", FR),
        ("fr-BE", FR),
        ("en-US", EN),
        ("en-CA,fr;q=0.8", EN),
        ("de-DE", EN),
        ("", EN),
    ],
)
def test_the_first_visit_follows_the_browsers_language(client, alice, enabled, accept, lang):
    extra = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    open_link(client, alice.connection, **extra)
    assert html_lang(client.get("/link/", **extra)) == lang


def test_the_language_choice_is_remembered_over_the_browsers_language(session):
    response = session.post(
        "/link/language", {"language": "fr-ca", "next": "/link/accounts"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 302
    assert response["Location"] == "/link/accounts"
    assert_private(response)
    assert html_lang(session.get("/link/", HTTP_ACCEPT_LANGUAGE="en-US")) == FR
    assert html_lang(session.get("/link/accounts", HTTP_ACCEPT_LANGUAGE="en-US")) == FR
    session.post("/link/language", {"language": "en-ca", "next": "/link/"})
    assert html_lang(session.get("/link/", HTTP_ACCEPT_LANGUAGE="fr-CA")) == EN


@pytest.mark.parametrize("name", ["connect", "accounts", "setup", "revoke"])
def test_the_toggle_brings_the_user_back_to_the_same_page(session, alice, name):
    page = body(screen(session, name, alice))
    next_url = re.search(r'<input type="hidden" name="next" value="([^"]*)"', page).group(1)
    response = session.post("/link/language", {"language": "fr-ca", "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == next_url
    assert html_lang(session.get(next_url)) == FR


# Every screen ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", SCREENS)
def test_every_screen_renders_in_both_languages_with_the_branding_and_toggle(
    session, alice, name, lang
):
    set_language(session, lang)
    response = screen(session, name, alice)
    text = assert_page(response, lang)
    page = body(response)
    assert re.search(r"<header\b.*?Maple Bank.*?</header>", page, re.S), "no name at the top"
    # QBO's name is on every screen too (§4 Branding).
    assert "QuickBooks Online" in text
    # No logo configured: no <img>.
    assert "<img" not in page
    form = re.search(
        r'<form class="lang" action="/link/language" method="post">(.*?)</form>', page, re.S
    )
    assert form, "no POST language form"
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert f'name="language" value="{tr(lang, FR, EN)}"' in form.group(1)
    assert f">{TOGGLE[lang]}</button>" in form.group(1)
    assert f">{TOGGLE[tr(lang, FR, EN)]}</button>" not in form.group(1)
    step = {"connect": 1, "accounts": 2, "setup": 3}.get(name, 4)
    assert tr(lang, f"Step {step} of 4", f"Étape {step} sur 4") in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", SCREENS)
def test_every_screen_shows_the_logo_with_the_institution_name_as_alt(session, alice, name, lang):
    org_update(logo=image_bytes(), logo_content_type="image/png", logo_updated=timezone.now())
    set_language(session, lang)
    page = body(screen(session, name, alice))
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == 1
    assert 'alt="Maple Bank"' in images[0]
    src = re.search(r'src="([^"]+)"', images[0]).group(1)
    logo = session.get(src)
    assert logo.status_code == 200
    assert logo["Content-Type"] == "image/png"
    assert logo.content == image_bytes()


@pytest.mark.parametrize("lang", LANGS)
def test_the_problem_pages_show_the_logo_too(client, alice, enabled, lang):
    org_update(logo=image_bytes(), logo_content_type="image/png", logo_updated=timezone.now())
    response = client.get("/link/", HTTP_ACCEPT_LANGUAGE=ACCEPT[lang])
    assert response.status_code == 401
    assert re.search(r'<img\b[^>]*alt="Maple Bank"', body(response))


def test_the_connect_screen_says_what_is_shared_and_with_whom(session):
    text = visible_text(body(session.get("/link/")))
    for phrase in (
        "Alice Bakery",
        "Account names and types",
        "The last 4 digits of account numbers",
        "Balances",
        "Transactions: date, amount and description",
    ):
        assert phrase in text
    assert 'href="/link/accounts"' in body(session.get("/link/"))


def test_every_link_page_extends_the_link_base_which_extends_the_shared_base():
    pages = [p for p in sorted(LINK_TEMPLATES.glob("*.html")) if not p.name.startswith("_")]
    assert "problem.html" in [p.name for p in pages]
    for page in pages:
        if page.name == "base.html":
            continue
        assert page.read_text("utf-8").startswith('{% extends "link/base.html" %}'), page.name
    base = (LINK_TEMPLATES / "base.html").read_text("utf-8")
    assert base.startswith('{% extends "base.html" %}')
    # The page head is written once, in templates/base.html.
    for path in [*LINK_TEMPLATES.glob("*.html"), *SHARED_TEMPLATES[1:]]:
        text = path.read_text("utf-8").lower()
        for tag in ("<!doctype", "<html", "<head", "<meta", "<title", "<body"):
            assert not re.search(tag + r"\b", text), (path.name, tag)


def test_link_pages_load_no_inline_script_nor_anything_from_another_site(session, alice):
    pages = [body(screen(session, name, alice)) for name in SCREENS]
    pages.append(body(Client().get("/link/")))
    for page in pages:
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert re.search(r'\ssrc="/static/', tag), tag
        assert all(
            not code.strip() for code in re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S)
        )
        assert not re.search(r"\son[a-z]+=", page), "inline event handler"
        assert not re.search(r"\sstyle=", page), "inline style (CSP style-src 'self')"
        assert "<style" not in page
        for url in re.findall(r'<(?:link|script|img)\b[^>]*\s(?:href|src)="([^"]+)"', page):
            assert url.startswith(("/", "data:")), url


# Every string translated -------------------------------------------------------------------------

PROPER_NOUNS = ("QuickBooks Online", "QuickBooks", "Intuit Inc.", "Intuit", "Maple Bank")


def _msgids(source: str) -> set[str]:
    ids = set()
    for _line, _func, message, _comments in extract_python(
        io.BytesIO(source.encode("utf-8")), DEFAULT_KEYWORDS, [], {}
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def template_msgids() -> set[str]:
    ids: set[str] = set()
    for path in [*sorted(LINK_TEMPLATES.glob("*.html")), *SHARED_TEMPLATES]:
        ids |= _msgids(templatize(path.read_text("utf-8")))
    return ids


def fragments(msgid: str) -> set[str]:
    """The pieces of an English message a reader sees: split at tags and placeholders, with
    entities decoded; pieces that are only proper nouns or punctuation are dropped."""
    pieces = re.split(r"<[^>]+>|%\(\w+\)[sd]", msgid)
    kept = set()
    for piece in pieces:
        piece = re.sub(r"\s+", " ", html.unescape(piece)).strip()
        rest = piece
        for noun in PROPER_NOUNS:
            rest = rest.replace(noun, "")
        if re.search(r"[A-Za-z]{2,}", rest):
            kept.add(piece)
    return kept


def english_fragments(ids: set[str]) -> set[str]:
    return {piece for msgid in ids for piece in fragments(msgid)}


def found(piece: str, text: str) -> bool:
    # Whole words only; a piece that starts or ends on punctuation ("), or as soon…" after a
    # placeholder) may touch anything there.
    left = r"(?<!\w)" if piece[:1].isalnum() else ""
    right = r"(?!\w)" if piece[-1:].isalnum() else ""
    return re.search(left + re.escape(piece) + right, text) is not None


def _render_everything(lang: str, bob) -> str:
    """The visible text of every Link screen and problem page, in one language, in every state
    that shows a different string."""
    texts: list[str] = []

    def keep(response) -> None:
        if response["Content-Type"].startswith("application/json"):
            data = response.json()
            texts.append(" ".join([data["message"], *(a["label"] for a in data["accounts"])]))
        else:
            texts.append(visible_text(body(response)))

    org_update(
        support_contact="help@maple.example",
        privacy_url="https://maple.example/privacy",
        terms_url="https://maple.example/terms",
    )
    # Fresh accounts for each language: the walk connects them.
    company = make_company("Alice Bakery", "US", client=f"alice-{lang}")
    alice = type("Persona", (), {})()
    alice.connection = make_connection(company)
    alice.checking = make_account(alice.connection, "chk", account_name="Alice Checking")
    alice.card = make_account(
        alice.connection,
        "visa",
        account_name="Alice Visa",
        account_type="creditCard",
        balance=Decimal("-10.00"),
    )
    alice.prepaid = make_account(
        alice.connection,
        "gift",
        account_name="Alice Gift",
        account_type="creditCard",
        balance=Decimal("5.00"),
    )
    client = Client(HTTP_ACCEPT_LANGUAGE=ACCEPT[lang])
    set_language(client, lang)
    open_link(client, alice.connection)
    keep(client.get("/link/"))
    keep(client.get("/link/leave"))  # Cancel without a return address
    keep(client.get("/link/accounts"))
    keep(client.get("/link/accounts?select=all"))
    keep(client.post("/link/accounts", {}))  # the "choose at least one" error
    choose(client, alice.checking, alice.card)
    keep(client.get("/link/setup"))
    keep(client.get("/link/credentials"))
    keep(client.post("/link/credentials"))
    keep(client.post("/link/credentials"))  # "the ones you got before no longer work"
    keep(client.get("/link/revoke"))
    keep(client.post("/link/revoke", follow=True))  # "were revoked"
    keep(client.post("/link/revoke", follow=True))  # "no credentials to revoke"
    keep(client.get("/link/status"))
    connect(alice.checking)
    keep(client.get("/link/"))  # "already connected"
    keep(client.get("/link/accounts"))  # a connected badge
    connect(alice.card)
    keep(client.get("/link/credentials", follow=True))  # "All set!", one more to connect
    keep(client.get("/link/status"))
    connect(alice.prepaid)
    org_update(return_url="https://maple.example/app")
    keep(client.get("/link/"))  # every account connected
    keep(client.get("/link/accounts"))  # "all already connected"
    keep(client.get("/link/done"))  # back to the bank
    org_update(return_url="")

    # A company whose country is unknown: the location question, its error, and elsewhere.
    where = Client()
    set_language(where, lang)
    open_link(where, make_connection(make_company("Carol Café", "", client=f"carol-{lang}")))
    keep(where.get("/link/location"))
    keep(where.post("/link/location", {}))
    keep(where.post("/link/location", {"country": "elsewhere"}))

    # A connection with no account yet.
    empty = make_connection(bob.company)
    other = Client()
    set_language(other, lang)
    open_link(other, empty)
    keep(other.get("/link/accounts"))

    # Every problem page.
    for scenario in SCENARIOS.values():
        org_update(integration_enabled=True)
        fresh = type("Persona", (), {"connection": make_connection(company)})
        response, _path = scenario[1](Client(), fresh, {"HTTP_ACCEPT_LANGUAGE": ACCEPT[lang]})
        keep(response)
    org_update(integration_enabled=True)

    text = " ".join(texts)
    for name in (
        "Alice Checking",
        "Alice Visa",
        "Alice Bakery",
        "Bob Plomberie",
        "Carol Café",
        "Maple Bank",
    ):
        text = text.replace(name, " ")
    return text


def test_every_link_template_string_is_translated(bob, enabled):
    template_pieces = english_fragments(template_msgids())
    assert len(template_pieces) > 40  # the extraction works
    with translation.override(EN):
        labels = {str(label) for label in AccountType.labels} | {
            str(label) for label in SourceAccountStatus.labels
        }
    view_pieces = english_fragments(
        _msgids(LINK_VIEWS.read_text("utf-8")) | _msgids(LINK_FORMS.read_text("utf-8"))
    )
    view_pieces |= labels

    english = _render_everything(EN, bob)
    # Every template string was rendered at least once, so the French check below covers it.
    never_rendered = sorted(p for p in template_pieces if not found(p, english))
    assert never_rendered == []

    french = _render_everything(FR, bob)
    left_in_english = sorted(p for p in template_pieces | view_pieces if found(p, french))
    assert left_in_english == []


def test_french_pages_use_non_breaking_spaces_before_colons_and_inside_guillemets(bob, enabled):
    """Canadian French typography (issue 4): `Soutien\u00a0: …`, `«\u00a0…\u00a0»`."""
    french = _render_everything(FR, bob)
    ordinary = sorted(set(re.findall(r"\S+ [:»]|« \S+", french)))
    assert ordinary == []


# Where the business is located (a company created without a country) ---------------------------


@pytest.fixture
def carol(db):
    """A company the client created without a country, with one account to connect."""
    company = make_company("Carol Café", "", client="carol")
    connection = make_connection(company)
    checking = make_account(connection, "carol-chk", account_name="Carol Checking")
    return type("Persona", (), {"company": company, "connection": connection, "checking": checking})


@pytest.mark.parametrize("lang", LANGS)
def test_it_asks_where_the_business_is_before_the_accounts_screen(client, carol, enabled, lang):
    set_language(client, lang)
    open_link(client, carol.connection)
    connect_page = body(client.get("/link/"))
    assert 'href="/link/location"' in connect_page
    # Every later screen sends the user to the question first.
    choose_path = "/link/accounts"
    for path in (choose_path, "/link/setup", "/link/credentials", "/link/revoke"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/link/location"), path
        assert_private(response)

    response = client.get("/link/location")
    text = assert_page(response, lang)
    question = tr(lang, "Where is your business located?", "Où votre entreprise est-elle située?")
    assert question in text
    assert tr(lang, "Step 1 of 4", "Étape 1 sur 4") in text
    assert "Carol Checking" not in text
    page = body(response)
    form = re.search(r'<form method="post" action="/link/location"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no POST form"
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert re.search(r"<fieldset[^>]*>\s*<legend>", form.group(1))
    radios = re.findall(r'<input type="radio" name="country" value="(\w+)" id="([\w-]+)"', page)
    assert [value for value, _id in radios] == ["US", "CA", "elsewhere"]
    for _value, input_id in radios:
        assert f'<label for="{input_id}">' in page
    labels = [tr(lang, "United States", "États-Unis"), "Canada", tr(lang, "Elsewhere", "Ailleurs")]
    for label in labels:
        assert label in text


def test_answering_united_states_stores_it_audits_it_and_goes_on_to_the_accounts(
    client, carol, enabled
):
    open_link(client, carol.connection)
    response = client.post("/link/location", {"country": "US"})
    assert (response.status_code, response["Location"]) == (302, "/link/accounts")
    carol.company.refresh_from_db()
    assert carol.company.country == "US"
    event = AuditEvent.objects.get(action="company.updated")
    assert (event.actor_type, event.actor_id) == (ActorType.SMB, str(carol.connection.pk))
    assert (event.object_id, event.company_id) == (str(carol.company.pk), carol.company.pk)
    assert event.data == {"country": "US", "note": "via Link"}
    assert "Carol Checking" in assert_page(client.get("/link/accounts"), EN)
    # Answered: the question is not asked again.
    assert client.get("/link/location")["Location"] == "/link/accounts"
    # And the Link page's own Get credentials works from then on.
    choose(client, carol.checking)
    assert client.post("/link/credentials").status_code == 200
    assert CredentialSet.objects.filter(connection=carol.connection).count() == 1


def test_an_answer_never_overwrites_a_country_the_client_set_meanwhile(client, carol, enabled):
    open_link(client, carol.connection)
    form = client.get("/link/location")
    assert form.status_code == 200
    Company.objects.filter(pk=carol.company.pk).update(country="CA")  # the client's PATCH
    assert not companies.set_country(carol.company, "US", actor=Actor.smb(carol.connection.pk))
    assert carol.company.country == "CA"
    assert Company.objects.get(pk=carol.company.pk).country == "CA"
    assert not AuditEvent.objects.filter(action="company.updated").exists()
    # The page itself goes on to the accounts once the country is known.
    response = client.post("/link/location", {"country": "US"})
    assert response["Location"] == "/link/accounts"
    assert Company.objects.get(pk=carol.company.pk).country == "CA"


@pytest.mark.parametrize("lang", LANGS)
def test_answering_elsewhere_says_it_is_not_available_and_stores_nothing(
    client, carol, enabled, lang
):
    set_language(client, lang)
    open_link(client, carol.connection)
    response = client.post("/link/location", {"country": "elsewhere"})
    text = assert_page(response, lang, 403)
    assert tr(lang, "Not available for your company", "Non offert pour votre entreprise") in text
    assert 'href="/link/location"' in body(response)  # back to the question
    carol.company.refresh_from_db()
    assert carol.company.country == ""
    assert not AuditEvent.objects.filter(action="company.updated").exists()
    assert client.get("/link/accounts")["Location"] == "/link/location"
    assert client.post("/link/credentials")["Location"] == "/link/location"
    assert not CredentialSet.objects.exists()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("data", [{}, {"country": ""}, {"country": "FR"}, {"country": "us"}])
def test_no_answer_is_refused_in_the_users_language(client, carol, enabled, lang, data):
    set_language(client, lang)
    open_link(client, carol.connection)
    response = client.post("/link/location", data)
    text = assert_page(response, lang, 400)
    assert (
        tr(
            lang,
            "Choose where your business is located.",
            "Choisissez l’endroit où votre entreprise est située.",
        )
        in text
    )
    assert 'role="alert"' in body(response)
    assert 'aria-describedby="country-error"' in body(response)
    carol.company.refresh_from_db()
    assert carol.company.country == ""


def test_the_question_needs_a_csrf_token(carol, enabled):
    client = Client(enforce_csrf_checks=True)
    open_link(client, carol.connection)
    assert client.post("/link/location", {"country": "US"}).status_code == 403
    token = csrf_token_of(client.get("/link/location"))
    ok = client.post("/link/location", {"country": "CA", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    carol.company.refresh_from_db()
    assert carol.company.country == "CA"


def test_an_unknown_country_is_asked_only_once_the_integration_is_on(client, carol):
    org_update(integration_enabled=False)
    response = client.get(start_path(carol.connection))
    assert "Not available yet" in assert_page(response, EN, 403)


def test_a_company_with_a_country_is_never_asked(session, alice):
    assert 'href="/link/accounts"' in body(session.get("/link/"))
    assert session.get("/link/location")["Location"] == "/link/accounts"


# Account choice ----------------------------------------------------------------------------------


@pytest.fixture
def numbered(alice):
    alice.checking.account_number = "000123456789"
    alice.checking.save()
    alice.card.account_number = "4111222233331234"
    alice.card.balance = Decimal("-1234.56")
    alice.card.save()
    return alice


@pytest.mark.parametrize("lang", LANGS)
def test_it_lists_each_account_with_type_masked_number_currency_balance_and_status(
    client, numbered, enabled, lang
):
    alice = numbered
    set_language(client, lang)
    open_link(client, alice.connection)
    response = client.get("/link/accounts")
    text = assert_page(response, lang)
    page = body(response)
    assert "Alice Checking" in text and "Alice Visa" in text
    assert tr(lang, "Checking", "Compte chèques") in text
    assert tr(lang, "Credit card", "Carte de crédit") in text
    assert "••••6789" in text and "••••1234" in text
    for full in ("000123456789", "4111222233331234", "00012345", "41112222", "12345678"):
        assert full not in page
    assert "USD" in text
    balances = re.findall(r'<span class="balance nowrap">([^<]*)</span>', page)
    # A card's negative balance is what is owed, said in words (issue 17, item 14).
    assert balances == tr(
        lang,
        ["$100.00", "$1,234.56 owed"],
        [f"100,00{NBSP}${NBSP}US", f"1{NBSP}234,56{NBSP}${NBSP}US dû"],
    )
    # No status badge on accounts not chosen yet (item 10): only connected or disconnected ones
    # carry one.
    assert tr(lang, "pending", "en attente") not in text
    # Each checkbox has its label (keyboard and screen reader use).
    for box_id in re.findall(r'<input type="checkbox"[^>]*id="([^"]+)"', page):
        assert f'<label class="account-body" for="{box_id}">' in page


@pytest.mark.parametrize("lang, expected", [(EN, "$100.00"), (FR, f"100,00{NBSP}$")])
def test_a_canadian_companys_balance_is_in_canadian_dollars(client, bob, enabled, lang, expected):
    set_language(client, lang)
    open_link(client, bob.connection)
    page = body(client.get("/link/accounts"))
    assert re.findall(r'<span class="balance nowrap">([^<]*)</span>', page) == [expected]
    assert "CAD" in visible_text(page)


def test_the_accounts_read_with_the_session_come_back_whole_and_in_the_order_they_were_added(
    client, enabled
):
    """The Link screens read the accounts packed in one column of the session's row: names
    that look like the packing's own syntax, and balances of every shape, come back as stored."""
    connection = make_connection(make_company("Packing", "US", client="packing"))
    shapes = [
        ('Quote " and \\ backslash', Decimal("0")),
        ('["not", "an", "array"]', Decimal("12345678901.5")),
        ("Épargne, « études » 😀", Decimal("-0.01")),
        ("Comma, colon: semicolon;", Decimal("7")),
    ]
    for i, (name, balance) in enumerate(shapes):
        make_account(connection, f"pk-{i}", account_name=name, balance=balance)
    open_link(client, connection)
    page = body(client.get("/link/accounts"))
    names = re.findall(r'<span class="name">([^<]*)</span>', page)
    assert [html.unescape(name) for name in names] == [name for name, _ in shapes]
    balances = re.findall(r'<span class="balance nowrap">([^<]*)</span>', page)
    assert balances == ["$0.00", "$12,345,678,901.50", "-$0.01", "$7.00"]


def test_the_money_filter_formats_thousands_for_the_language_and_country():
    with translation.override(FR):
        assert formatting.money(Decimal("1234.56"), "CAD", "CA") == f"1{NBSP}234,56{NBSP}$"
    with translation.override(EN):
        assert formatting.money(Decimal("1234.56"), "USD", "US") == "$1,234.56"


@pytest.mark.parametrize("lang", LANGS)
def test_connected_accounts_are_shown_as_connected_and_cannot_be_chosen(
    client, alice, enabled, lang
):
    connect(alice.checking)
    set_language(client, lang)
    open_link(client, alice.connection)
    response = client.get("/link/accounts")
    page = body(response)
    # The connected account is listed apart, under "Already connected", with no checkbox.
    offered, connected_part = re.split(r"<h2>[^<]*</h2>", page.split("<form", 1)[1], maxsplit=1)
    assert tr(lang, "Already connected", "Déjà connectés") in page
    assert f'value="{alice.checking.pk}"' not in page
    assert "Alice Checking" in connected_part and "Alice Checking" not in offered
    assert tr(lang, "connected", "connecté") in visible_text(connected_part)
    card = re.search(
        rf'<li class="account">\s*<input[^>]*value="{alice.card.pk}"[^>]*>.*?</li>', offered, re.S
    ).group(0)
    assert " disabled" not in re.search(r"<input[^>]*>", card).group(0)
    assert tr(lang, "pending", "en attente") not in visible_text(card)
    # A forged POST of the connected account is refused like an empty choice.
    response = client.post("/link/accounts", {"accounts": [alice.checking.pk]})
    assert response.status_code == 400
    assert client.session["link"]["chosen"] == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_account_already_connected_says_so(client, alice, enabled, lang):
    connect(alice.checking)
    connect(alice.card)
    set_language(client, lang)
    open_link(client, alice.connection)
    text = assert_page(client.get("/link/accounts"), lang)
    assert (
        tr(
            lang,
            "All your accounts are already connected to QuickBooks Online.",
            "Tous vos comptes sont déjà connectés à QuickBooks Online.",
        )
        in text
    )


@pytest.mark.parametrize("lang", LANGS)
def test_choosing_no_account_is_refused_in_the_users_language(session, alice, lang):
    set_language(session, lang)
    response = session.post("/link/accounts", {})
    text = assert_page(response, lang, 400)
    assert (
        tr(
            lang,
            "Choose at least one account to connect.",
            "Choisissez au moins un compte à connecter.",
        )
        in text
    )
    assert 'role="alert"' in body(response)
    assert session.session["link"]["chosen"] == []
    # Nothing chosen: the later screens send the user back.
    assert session.get("/link/setup")["Location"] == "/link/accounts"
    assert session.post("/link/credentials")["Location"] == "/link/accounts"
    assert not CredentialSet.objects.exists()


HOSTILE_IDS = ["²", "abc", "", "-1", "1.0", "9" * 30, "9" * 5000, "\x00", "1\x00", " 1", "１"]


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_it_refuses_account_ids_that_are_not_its_own_with_a_400(alice, enabled, value):
    client = Client(raise_request_exception=False)
    open_link(client, alice.connection)
    response = client.post("/link/accounts", {"accounts": [value]})
    assert response.status_code == 400
    assert "Choose at least one account to connect." in visible_text(body(response))
    assert client.session["link"]["chosen"] == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("value", ["9" * 5000, "\x00"])
def test_a_hostile_account_id_gets_the_form_error_page_and_changes_nothing(
    alice, enabled, value, lang
):
    client = Client(raise_request_exception=False)
    set_language(client, lang)
    open_link(client, alice.connection)
    choose(client, alice.card)
    events = AuditEvent.objects.count()
    response = client.post("/link/accounts", {"accounts": [value, value]})
    text = assert_page(response, lang, 400)
    assert (
        tr(
            lang,
            "Choose at least one account to connect.",
            "Choisissez au moins un compte à connecter.",
        )
        in text
    )
    assert re.search(r'<p class="error" id="accounts-error" role="alert">', body(response))
    assert value not in body(response)
    # Nothing written: the earlier choice stands, no credentials, no audit event.
    assert client.session["link"]["chosen"] == [alice.card.pk]
    assert not CredentialSet.objects.exists()
    assert AuditEvent.objects.count() == events


def test_values_the_page_did_not_offer_are_ignored_next_to_an_account_it_did(
    client, alice, bob, enabled
):
    connect(alice.card)
    open_link(client, alice.connection)
    offered = str(alice.checking.pk)
    values = [*HOSTILE_IDS, str(alice.card.pk), str(bob.chequing.pk), offered, offered]
    response = client.post("/link/accounts", {"accounts": values})
    assert response.status_code == 302
    assert response["Location"] == "/link/setup"
    assert client.session["link"]["chosen"] == [alice.checking.pk]


def test_a_list_of_a_thousand_values_gets_the_form_error_page(client, alice, bob, enabled):
    open_link(client, alice.connection)
    # Just under Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000 with the CSRF token).
    values = [str(bob.chequing.pk)] * 500 + [str(n) for n in range(10**6, 10**6 + 490)]
    response = client.post("/link/accounts", {"accounts": values})
    assert_page(response, EN, 400)
    assert "Choose at least one account to connect." in visible_text(body(response))
    assert client.session["link"]["chosen"] == []


def test_a_list_of_thousands_of_values_is_refused_before_the_view_and_changes_nothing(
    alice, enabled
):
    """Over DATA_UPLOAD_MAX_NUMBER_FIELDS Django refuses the request itself, with its own 400."""
    client = Client(raise_request_exception=False)
    open_link(client, alice.connection)
    choose(client, alice.card)
    response = client.post("/link/accounts", {"accounts": [str(alice.checking.pk)] * 5000})
    assert response.status_code == 400
    assert_private(response)
    assert client.session["link"]["chosen"] == [alice.card.pk]


def test_choosing_an_account_goes_to_setup(session, alice):
    response = session.post("/link/accounts", {"accounts": [alice.card.pk]})
    assert response.status_code == 302
    assert response["Location"] == "/link/setup"
    assert_private(response)
    assert session.session["link"]["chosen"] == [alice.card.pk]


def test_the_choice_is_remembered_when_coming_back(session, alice):
    choose(session, alice.card)
    page = body(session.get("/link/accounts"))
    assert re.search(rf'<input[^>]*value="{alice.card.pk}"[^>]*checked', page)
    assert not re.search(rf'<input[^>]*value="{alice.checking.pk}"[^>]*checked', page)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("contact", ["", "help@maple.example"])
def test_a_connection_without_accounts_says_to_contact_the_operator(
    client, bob, enabled, lang, contact
):
    org_update(support_contact=contact)
    empty = make_connection(bob.company)
    set_language(client, lang)
    open_link(client, empty)
    response = client.get("/link/accounts")
    text = assert_page(response, lang)
    assert (
        tr(
            lang,
            "There are no accounts to connect yet. Please contact Maple Bank.",
            "Il n’y a encore aucun compte à connecter. Veuillez communiquer avec Maple Bank.",
        )
        in text
    )
    assert ("help@maple.example" in text) == bool(contact)
    assert 'type="checkbox"' not in body(response)
    assert client.post("/link/accounts", {}).status_code == 400


# Setup -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_the_setup_steps_name_the_institution_and_the_chosen_accounts(session, alice, lang):
    set_language(session, lang)
    choose(session, alice.card)
    response = session.get("/link/setup")
    text = assert_page(response, lang)
    page = body(response)
    assert (
        tr(
            lang,
            "find and select <strong>Maple Bank</strong>",
            "trouvez et sélectionnez <strong>Maple Bank</strong>",
        )
        in page
    )
    assert (
        tr(
            lang,
            "To connect your Maple Bank accounts to QuickBooks Online",
            "Pour connecter vos comptes Maple Bank à QuickBooks Online",
        )
        in text
    )
    assert len(re.findall(r"<li>", re.search(r'<ol class="steps">(.*?)</ol>', page, re.S)[1])) == 4
    assert tr(lang, "Link account", "Lier un compte") in text
    assert "Alice Visa ••••6789" in text
    assert "Alice Checking" not in text
    assert 'target="_blank" rel="noopener noreferrer"' in page
    assert re.search(r'<form method="post" action="/link/credentials">', page)
    assert tr(lang, "Get credentials", "Obtenir les identifiants") in text


CALLOUTS = {
    "en": ("Heads up", "Use your business login.", "", ""),
    "both": ("Heads up", "Use your business login.", "Attention", "Utilisez votre accès affaires."),
    "fr-only": ("", "", "Attention", "Utilisez votre accès affaires."),
    "none": ("", "", "", ""),
    "title-only": ("Heads up", "", "", ""),
}


@pytest.mark.parametrize(
    "callout, lang, expected",
    [
        ("en", EN, ("Heads up", "Use your business login.")),
        ("en", FR, ("Heads up", "Use your business login.")),
        ("both", EN, ("Heads up", "Use your business login.")),
        ("both", FR, ("Attention", "Utilisez votre accès affaires.")),
        ("fr-only", FR, ("Attention", "Utilisez votre accès affaires.")),
        ("fr-only", EN, None),
        ("none", EN, None),
        ("none", FR, None),
        ("title-only", FR, ("Heads up", "")),
    ],
)
def test_the_callout_follows_the_language_rules(session, alice, callout, lang, expected):
    title_en, body_en, title_fr, body_fr = CALLOUTS[callout]
    org_update(
        callout_title_en=title_en,
        callout_body_en=body_en,
        callout_title_fr=title_fr,
        callout_body_fr=body_fr,
    )
    set_language(session, lang)
    choose(session, alice.checking)
    page = body(session.get("/link/setup"))
    box = re.search(r'<aside class="callout"[^>]*>(.*?)</aside>', page, re.S)
    if expected is None:
        assert box is None
        assert 'class="callout' not in page
        return
    assert box, "no callout box"
    title, text = expected
    assert re.search(rf'<p class="callout-title"[^>]*>{re.escape(title)}</p>', box.group(1))
    if text:
        assert text in box.group(1)
    # The box sits above the Get credentials button.
    assert page.index('class="callout"') < page.index('action="/link/credentials"')
    other = {"Heads up", "Use your business login.", "Attention", "Utilisez votre accès affaires."}
    for unwanted in other - {title, text}:
        assert unwanted not in box.group(1)


@pytest.mark.parametrize("lang", LANGS)
def test_the_callout_is_plain_text_never_html(session, alice, lang):
    org_update(
        callout_title_en="<b>Note</b>",
        callout_body_en="<script>alert(1)</script>",
        callout_title_fr="<i>Note</i>" if lang == FR else "",
        callout_body_fr="<script>alert(1)</script>" if lang == FR else "",
    )
    set_language(session, lang)
    choose(session, alice.checking)
    page = body(session.get("/link/setup"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "<b>Note" not in page and "<i>Note" not in page
    assert "&lt;" + tr(lang, "b", "i") + "&gt;Note" in page


# Credentials -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_getting_credentials_shows_them_once_privately(client, alice, enabled, lang):
    session = client
    begin = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)  # 12:00 in Toronto
    with time_machine.travel(begin, tick=False):
        set_language(session, lang)
        open_link(session, alice.connection)
        choose(session, alice.checking)
        response = session.post("/link/credentials")
    text = assert_page(response, lang)
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    username, password = username_of(response), password_of(response)
    assert USERNAME.match(username)
    assert len(password) == 16 and password.isalnum() and password.isascii()
    # The warning that they are shown once (its French spacing is checked elsewhere).
    assert (
        tr(
            lang,
            "for your security they are shown only once",
            "ils ne sont affichés qu’une seule fois",
        )
        in text
    )
    # Expiry: 60 minutes later, in the deployment's time zone named (item 14), formatted for the
    # language.
    assert (
        tr(
            lang,
            "They expire in 60 minutes (at 1:00\u202fPM EST)",
            "Ils expirent dans 60 minutes (à 13 h 00 HNE)",
        )
        in text
    )
    assert tr(lang, "Copy username", "Copier le nom d’utilisateur") in text
    assert tr(lang, "Copy password", "Copier le mot de passe") in text
    assert 'data-copy="password"' in body(response)
    assert tr(lang, "Revoke credentials", "Révoquer les identifiants") in text
    # The secrets are in the page body only: never in a URL, a header or a cookie.
    for name, value in response.items():
        assert password not in value and username not in value, name
    assert password not in str(session.cookies)


@pytest.mark.parametrize("lang", LANGS)
def test_the_credentials_page_repeats_the_quickbooks_steps(session, alice, lang):
    """Issue 4: with the username and password, "the page shows ... the QBO steps"."""
    set_language(session, lang)
    choose(session, alice.checking)
    text = assert_page(session.post("/link/credentials"), lang)
    assert tr(lang, "Link account", "Lier un compte") in text
    assert tr(lang, "find and select Maple Bank", "trouvez et sélectionnez Maple Bank") in text


def test_a_credential_set_covers_exactly_the_chosen_accounts_and_stores_only_a_hash(session, alice):
    choose(session, alice.card)
    before = timezone.now()
    response = session.post("/link/credentials")
    after = timezone.now()
    password, username = password_of(response), username_of(response)
    credential_set = CredentialSet.objects.get()
    assert credential_set.connection == alice.connection
    assert credential_set.username == username
    assert set(credential_set.source_accounts.all()) == {alice.card}
    assert credential_set.origin == "link"
    assert before <= credential_set.created <= after
    assert credential_set.expires - credential_set.created == dt.timedelta(minutes=60)
    assert credential_set.used is None and credential_set.revoked is None
    assert credential_set.password_hash != password
    assert password not in credential_set.password_hash
    assert check_password(password, credential_set.password_hash)
    assert not check_password(password + "x", credential_set.password_hash)
    event = AuditEvent.objects.get(action="credentials.issued")
    assert event.data["origin"] == "link"
    assert event.actor_type == ActorType.SMB
    assert event.company_id == alice.company.pk
    # The password is never written anywhere.
    for logged in AuditEvent.objects.all():
        assert password not in str(logged.data)


def test_a_reload_never_shows_the_password_again(session, alice):
    choose(session, alice.checking)
    password = password_of(session.post("/link/credentials"))
    for reload in (session.get("/link/credentials"), session.get("/link/setup")):
        assert reload.status_code == 200
        assert password not in body(reload)
        assert 'id="password"' not in body(reload)
    again = session.get("/link/credentials")
    assert "Get new credentials" in visible_text(body(again))


@pytest.mark.parametrize("lang", LANGS)
def test_new_credentials_stop_the_earlier_unused_ones_and_say_so(session, alice, lang):
    """Item 5: one Link set at most is outstanding. Used sets (what linked feeds stand on) and
    the API's sets are not the Link page's to revoke."""
    set_language(session, lang)
    choose(session, alice.checking)
    used = make_credentials(alice.connection, "DDDD-EEEE-FFFF", used=timezone.now())
    from_api = make_credentials(alice.connection, "AAAA-BBBB-CCCC", origin="api")
    first = session.post("/link/credentials")
    replaced = tr(
        lang,
        "The credentials you got before no longer work: use these ones.",
        f"Les identifiants obtenus plus tôt ne fonctionnent plus{NBSP}: utilisez ceux-ci.",
    )
    assert replaced not in visible_text(body(first))
    second = session.post("/link/credentials")
    assert replaced in assert_page(second, lang)
    assert password_of(first) != password_of(second)
    sets = {s.username: s for s in CredentialSet.objects.all()}
    assert sets[username_of(first)].revoked is not None
    assert sets[username_of(second)].revoked is None
    assert sets[used.username].revoked is None and sets[from_api.username].revoked is None
    event = AuditEvent.objects.get(action="credentials.revoked")
    assert event.data["usernames"] == [username_of(first)]


@pytest.mark.parametrize("lang", LANGS)
def test_it_issues_no_credentials_while_the_integration_is_off(session, alice, lang):
    set_language(session, lang)
    choose(session, alice.checking)
    org_update(integration_enabled=False)
    response = session.post("/link/credentials")
    text = assert_page(response, lang, 403)
    assert tr(lang, "not available", "n’est pas offerte") in text
    assert not CredentialSet.objects.exists()
    assert 'id="password"' not in body(response)


def test_another_sessions_credentials_cover_only_its_own_accounts(client, alice, bob, enabled):
    open_link(client, bob.connection)
    response = client.post("/link/accounts", {"accounts": [alice.checking.pk, alice.card.pk]})
    assert response.status_code == 400
    choose(client, bob.chequing)
    client.post("/link/credentials")
    credential_set = CredentialSet.objects.get()
    assert credential_set.connection == bob.connection
    assert set(credential_set.source_accounts.all()) == {bob.chequing}


# Revoke ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_the_revoke_page_asks_for_confirmation_first(session, alice, lang):
    set_language(session, lang)
    choose(session, alice.checking)
    session.post("/link/credentials")
    response = session.get("/link/revoke")
    text = assert_page(response, lang)
    assert tr(lang, "Revoke credentials?", "Révoquer les identifiants?") in text
    assert tr(lang, "Yes, revoke them", "Oui, les révoquer") in text
    assert (
        tr(
            lang,
            "Revoking also stops the accounts already connected to QuickBooks Online with these"
            " credentials",
            "La révocation arrête aussi les comptes déjà connectés à QuickBooks Online avec ces"
            " identifiants",
        )
        in text
    )
    assert re.search(r'<form method="post" action="/link/revoke">', body(response))
    assert CredentialSet.objects.filter(revoked__isnull=True).count() == 1


@pytest.mark.parametrize("lang", LANGS)
def test_revoking_invalidates_every_set_of_the_connection_and_only_those(session, alice, bob, lang):
    set_language(session, lang)
    choose(session, alice.checking)
    session.post("/link/credentials")
    make_credentials(alice.connection, "KKKK-MMMM-NNNN", origin="api")
    from_api = make_credentials(alice.connection, "AAAA-BBBB-CCCC", origin="api")
    used = make_credentials(alice.connection, "DDDD-EEEE-FFFF", used=timezone.now())
    bobs = make_credentials(bob.connection, "GGGG-HHHH-JJJJ")
    response = session.post("/link/revoke")
    assert response.status_code == 302
    assert response["Location"] == "/link/setup"
    assert_private(response)
    alices = CredentialSet.objects.filter(connection=alice.connection).exclude(pk=used.pk)
    assert alices.count() == 3
    assert all(s.revoked is not None for s in alices)
    from_api.refresh_from_db()
    assert from_api.revoked is not None
    used.refresh_from_db()
    assert used.revoked is not None
    bobs.refresh_from_db()
    assert bobs.revoked is None
    event = AuditEvent.objects.get(action="credentials.revoked")
    assert event.data["count"] == 4
    page = session.get(response["Location"])
    text = assert_page(page, lang)
    assert (
        tr(
            lang,
            "Your credentials were revoked. They can no longer be used in QuickBooks.",
            "Vos identifiants ont été révoqués. Ils ne peuvent plus être utilisés dans QuickBooks.",
        )
        in text
    )
    # Shown once.
    assert tr(lang, "were revoked", "ont été révoqués") not in visible_text(
        body(session.get("/link/setup"))
    )


@pytest.mark.parametrize("lang", LANGS)
def test_revoking_with_nothing_to_revoke_says_so(session, alice, lang):
    set_language(session, lang)
    choose(session, alice.checking)
    response = session.post("/link/revoke", follow=True)
    text = assert_page(response, lang)
    assert (
        tr(
            lang,
            "There were no credentials to revoke.",
            "Il n’y avait aucun identifiant à révoquer.",
        )
        in text
    )


def test_new_credentials_can_be_issued_after_revoking(session, alice):
    choose(session, alice.checking)
    first = password_of(session.post("/link/credentials"))
    session.post("/link/revoke")
    second = session.post("/link/credentials")
    assert password_of(second) != first
    assert CredentialSet.objects.filter(revoked__isnull=True).count() == 1


# Status ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_the_status_reports_the_chosen_accounts_until_all_are_connected(session, alice, lang):
    set_language(session, lang)
    choose(session, alice.checking, alice.card)
    session.post("/link/credentials")

    response = session.get("/link/status")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert_private(response)
    data = response.json()
    pending = tr(lang, "pending", "en attente")
    assert data["accounts"] == [
        {"id": alice.checking.pk, "status": "pending", "label": pending},
        {"id": alice.card.pk, "status": "pending", "label": pending},
    ]
    assert data["done"] is False
    assert data["message"] == ""

    connect(alice.checking)
    data = session.get("/link/status").json()
    assert [(a["status"], a["label"]) for a in data["accounts"]] == [
        ("connected", tr(lang, "connected", "connecté")),
        ("pending", pending),
    ]
    assert data["done"] is False
    assert data["message"] == ""

    connect(alice.card)
    data = session.get("/link/status").json()
    assert {a["status"] for a in data["accounts"]} == {"connected"}
    assert data["done"] is True
    assert data["message"] == tr(
        lang,
        "All set! Your accounts are connected to QuickBooks Online.",
        "C’est fait! Vos comptes sont connectés à QuickBooks Online.",
    )


def test_the_status_lists_only_the_chosen_accounts(session, alice):
    choose(session, alice.card)
    data = session.get("/link/status").json()
    assert [a["id"] for a in data["accounts"]] == [alice.card.pk]
    connect(alice.card)
    assert session.get("/link/status").json()["done"] is True


def test_the_status_needs_a_session(client, alice, enabled):
    response = client.get("/link/status")
    assert response.status_code == 401
    assert_private(response)


@pytest.mark.parametrize("lang", LANGS)
def test_the_credentials_page_says_all_set_once_every_chosen_account_is_connected(
    session, alice, lang
):
    set_language(session, lang)
    choose(session, alice.checking)
    success = tr(
        lang,
        "All set! Your accounts are connected to QuickBooks Online.",
        "C’est fait! Vos comptes sont connectés à QuickBooks Online.",
    )
    page = session.get("/link/credentials")
    assert success not in visible_text(body(page))
    assert 'data-done="false"' in body(page)
    assert 'href="/link/credentials"' in body(page)  # works without JavaScript
    # The live status leads to the completion screen (the link is shown by link.js).
    assert re.search(r'<p id="status-next" hidden><a class="button" href="/link/done">', body(page))
    connect(alice.checking)
    # Once every chosen account is connected, a reload is the completion screen (item 3).
    page = session.get("/link/credentials")
    assert page.status_code == 302 and page["Location"] == "/link/done"
    assert session.get("/link/status").json()["next"] == "/link/done"
    page = session.get("/link/done")
    text = assert_page(page, lang)
    assert success in text
    assert tr(lang, "You’re all set", "Tout est prêt") in text
    assert "Alice Checking" in text
    assert tr(lang, "Connect more accounts", "Connecter d’autres comptes") in text  # the card
    # No return address: the user is told they may close the page, with no button to nowhere.
    assert (
        tr(lang, "You can now close this page.", "Vous pouvez maintenant fermer cette page.")
        in text
    )
    assert 'class="button"' not in body(page)
    org_update(return_url="https://bank.example/app?from=qbo")
    page = body(session.get("/link/done"))
    back = re.findall(r'<a class="button" href="([^"]+)">([^<]+)</a>', page)
    assert back == [
        ("https://bank.example/app?from=qbo", tr(lang, "Back to Maple Bank", "Retour à Maple Bank"))
    ]


# Security ----------------------------------------------------------------------------------------


def _no_unsafe_inline_scripts(response) -> None:
    assert "'unsafe-inline'" not in script_src(response)
    assert "'unsafe-eval'" not in script_src(response)


def test_every_link_response_is_private_never_cached_and_has_a_strict_csp(client, alice, enabled):
    responses = [client.get(start_path(alice.connection))]
    responses += [
        client.get("/link/"),
        client.get("/link/accounts"),
        client.post("/link/accounts", {}),
        client.post("/link/accounts", {"accounts": [alice.checking.pk]}),
        client.get("/link/setup"),
        client.get("/link/credentials"),
        client.post("/link/credentials"),
        client.get("/link/status"),
        client.get("/link/revoke"),
        client.post("/link/revoke"),
        client.post("/link/language", {"language": "fr-ca", "next": "/link/"}),
        Client().get("/link/"),
        Client().get("/link/start?token=nope"),
    ]
    for response in responses:
        assert_private(response)
        _no_unsafe_inline_scripts(response)


def test_refusals_on_link_urls_are_private_too(client, alice, enabled):
    """Refusals by Django itself on Link URLs: a wrong method, a failed CSRF check."""
    open_link(client, alice.connection)
    strict = Client(enforce_csrf_checks=True)
    open_link(strict, alice.connection)
    responses = {
        "GET /link/language": client.get("/link/language"),
        "POST /link/status": client.post("/link/status"),
        "POST /link/start": client.post("/link/start"),
        "POST /link/accounts without CSRF": strict.post("/link/accounts", {}),
    }
    wrong = {
        name: (r.status_code, r.get("Referrer-Policy"), r.get("Cache-Control"))
        for name, r in responses.items()
        if r.get("Referrer-Policy") != "no-referrer" or "no-store" not in r.get("Cache-Control", "")
    }
    assert wrong == {}


@pytest.mark.parametrize(
    "path", ["/link/accounts", "/link/credentials", "/link/revoke", "/link/language"]
)
def test_forms_without_a_csrf_token_are_refused(alice, enabled, path):
    data = {
        "/link/accounts": {"accounts": [alice.card.pk]},
        "/link/language": {"language": "fr-ca", "next": "/link/"},
    }.get(path, {})
    client = Client(enforce_csrf_checks=True)
    open_link(client, alice.connection)
    # Choose through a token-carrying POST first, so that credentials would otherwise be issued.
    token = csrf_token_of(client.get("/link/accounts"))
    ok = client.post(
        "/link/accounts", {"accounts": [alice.checking.pk], "csrfmiddlewaretoken": token}
    )
    assert ok.status_code == 302
    for headers in ({}, {"HTTP_ORIGIN": "null"}):
        response = client.post(path, data, **headers)
        assert response.status_code == 403, (headers, response.status_code)
    assert not CredentialSet.objects.exists()
    assert client.session["link"]["chosen"] == [alice.checking.pk]
    assert html_lang(client.get("/link/")) == EN


@pytest.mark.parametrize("secure", [False, True])
def test_a_post_with_a_valid_token_and_origin_null_succeeds(alice, enabled, secure):
    """What Chromium sends from a page served with `Referrer-Policy: no-referrer`: `Origin: null`
    and no Referer."""
    client = Client(enforce_csrf_checks=True)
    open_link(client, alice.connection, secure=secure)
    null = {"HTTP_ORIGIN": "null", "secure": secure}
    token = csrf_token_of(client.get("/link/accounts", secure=secure))
    response = client.post(
        "/link/accounts", {"accounts": [alice.checking.pk], "csrfmiddlewaretoken": token}, **null
    )
    assert response.status_code == 302, body(response)
    assert response["Location"] == "/link/setup"
    token = csrf_token_of(client.get("/link/setup", secure=secure))
    response = client.post("/link/credentials", {"csrfmiddlewaretoken": token}, **null)
    assert response.status_code == 200
    assert len(password_of(response)) == 16
    token = csrf_token_of(client.get("/link/revoke", secure=secure))
    response = client.post("/link/revoke", {"csrfmiddlewaretoken": token}, **null)
    assert response.status_code == 302
    assert CredentialSet.objects.get().revoked is not None
    response = client.post(
        "/link/language",
        {"language": "fr-ca", "next": "/link/", "csrfmiddlewaretoken": token},
        **null,
    )
    assert response.status_code == 302
    assert html_lang(client.get("/link/", secure=secure)) == FR


@pytest.mark.parametrize("secure", [False, True])
def test_a_post_with_a_wrong_token_and_origin_null_is_refused(alice, enabled, secure):
    client = Client(enforce_csrf_checks=True)
    open_link(client, alice.connection, secure=secure)
    client.get("/link/accounts", secure=secure)
    wrong = "x" * 64
    for path, data in (
        ("/link/accounts", {"accounts": [alice.checking.pk]}),
        ("/link/credentials", {}),
        ("/link/revoke", {}),
        ("/link/language", {"language": "fr-ca", "next": "/link/"}),
    ):
        response = client.post(
            path, {**data, "csrfmiddlewaretoken": wrong}, HTTP_ORIGIN="null", secure=secure
        )
        assert response.status_code == 403, path
    assert client.session["link"]["chosen"] == []
    assert not CredentialSet.objects.exists()


def test_a_post_from_another_site_is_refused_even_with_a_valid_token(alice, enabled):
    client = Client(enforce_csrf_checks=True)
    open_link(client, alice.connection)
    token = csrf_token_of(client.get("/link/accounts"))
    response = client.post(
        "/link/accounts",
        {"accounts": [alice.checking.pk], "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://evil.example",
    )
    assert response.status_code == 403
    assert client.session["link"]["chosen"] == []


def test_the_origin_null_exception_is_only_for_link_pages(operator, alice, enabled):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    page = client.get("/admin/password_change/")
    token = csrf_token_of(page)
    response = client.post(
        "/admin/logout/", {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="null", secure=True
    )
    assert response.status_code == 403


def test_bobs_link_session_never_shows_alices_accounts(client, alice, bob, enabled):
    open_link(client, bob.connection)
    pages = [body(client.get(p)) for p in ("/link/", "/link/accounts")]
    choose(client, bob.chequing)
    pages += [body(client.get(p)) for p in ("/link/setup", "/link/credentials")]
    pages.append(body(client.post("/link/credentials")))
    pages.append(str(client.get("/link/status").json()))
    for page in pages:
        for leak in ("Alice Checking", "Alice Visa", "Alice Bakery"):
            assert leak not in page
    assert "Bob Chèques" in pages[1]
    # Posting alice's accounts in bob's session chooses nothing.
    response = client.post("/link/accounts", {"accounts": [alice.checking.pk]})
    assert response.status_code == 400
    assert client.session["link"]["chosen"] == [bob.chequing.pk]


def test_a_session_cannot_be_pointed_at_another_connection_by_its_chosen_ids(
    client, alice, bob, enabled
):
    open_link(client, bob.connection)
    session = client.session
    data = dict(session["link"])
    data["chosen"] = [alice.checking.pk]
    session["link"] = data
    session.save()
    response = client.get("/link/setup")
    assert response.status_code == 302
    assert response["Location"] == "/link/accounts"
    assert client.post("/link/credentials").status_code == 302
    assert not CredentialSet.objects.exists()
    assert client.get("/link/status").json()["accounts"] == []


def test_a_deleted_connection_ends_the_session(session, alice):
    alice.connection.delete()
    response = session.get("/link/accounts")
    assert response.status_code == 401
    assert "This link is no longer valid" in visible_text(body(response))


def test_the_session_cookie_is_renewed_when_a_link_opens(client, alice, enabled):
    client.get("/link/")
    before = client.cookies.get("sessionid")
    open_link(client, alice.connection)
    after = client.cookies.get("sessionid")
    assert after is not None
    assert before is None or before.value != after.value
    assert after["httponly"]
    assert after["samesite"] == "Lax"


# Query counts ------------------------------------------------------------------------------------


def _account_page_queries(client, size: int) -> int:
    company = make_company(f"Co {size}", "CA", client=f"co-{size}")
    connection = make_connection(company)
    for i in range(size):
        make_account(connection, f"acc-{i}", account_name=f"Account {i}", currency="CAD")
    open_link(client, connection)
    client.get("/link/accounts")  # warm the session and the CSRF cookie
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get("/link/accounts")
    assert response.status_code == 200
    assert body(response).count('type="checkbox"') == size
    return len(queries)


def test_the_account_list_costs_the_same_queries_for_1_or_50_accounts(
    enabled, django_assert_max_num_queries
):
    one = _account_page_queries(Client(), 1)
    fifty = _account_page_queries(Client(), 50)
    assert one == fifty
    client = Client()
    company = make_company("Pinned", "US", client="pinned")
    connection = make_connection(company)
    for i in range(50):
        make_account(connection, f"p-{i}")
    open_link(client, connection)
    client.get("/link/accounts")
    with django_assert_max_num_queries(5):  # session, connection, settings, accounts, feeds
        assert client.get("/link/accounts").status_code == 200


def _screen_queries(size: int) -> dict[str, int]:
    """Queries of each Link screen for a connection of `size` accounts, all of them chosen."""
    client = Client()
    connection = make_connection(make_company(f"Screens {size}", "US", client=f"s{size}"))
    for i in range(size):
        make_account(connection, f"acc-{i}", account_name=f"Account {i}")
    open_link(client, connection)
    page = client.get("/link/accounts")
    ids = re.findall(r'name="accounts" value="(\d+)"', body(page))
    assert len(ids) == size
    assert client.post("/link/accounts", {"accounts": ids}).status_code == 302
    counts = {}
    for path in ["/link/", "/link/accounts", "/link/setup", "/link/credentials", "/link/status"]:
        client.get(path)  # warm
        with CaptureQueriesContext(db_connection) as queries:
            assert client.get(path).status_code == 200, path
        counts[path] = len(queries)
    return counts


def test_no_link_screen_costs_more_queries_with_50_accounts_than_with_1(enabled):
    fifty = _screen_queries(50)
    assert fifty == _screen_queries(1)
    # The session with its connection, company and accounts, then the organization settings (the
    # tests keep no cached copy).
    screens = ["/link/", "/link/accounts", "/link/setup", "/link/credentials", "/link/status"]
    assert fifty == dict.fromkeys(screens, 2)


# The flow as people meet it (issue 17) -----------------------------------------------------------


def primary_actions(page: str) -> list[str]:
    """The screen's main actions: buttons and links styled as the filled `.button`, not hidden
    (the completion link the live status reveals is hidden until then)."""
    found_ = re.findall(r'<(?:a|button)\b[^>]*class="button"[^>]*>(.*?)</(?:a|button)>', page, re.S)
    hidden = re.findall(r"<p[^>]*\shidden>\s*<a\b[^>]*class=\"button\"", page)
    return [visible_text(f) for f in found_][: len(found_) - len(hidden)]


@pytest.mark.parametrize("lang", LANGS)
def test_every_screen_has_one_main_action_and_a_progress_indicator(session, alice, lang):
    set_language(session, lang)
    steps = tr(
        lang,
        ["Overview", "Choose accounts", "Set up QuickBooks", "Link in QuickBooks"],
        ["Aperçu", "Choisir les comptes", "Configurer QuickBooks", "Liaison dans QuickBooks"],
    )
    screens = [
        ("/link/", 1, tr(lang, "Next", "Suivant")),
        ("/link/accounts", 2, tr(lang, "Next", "Suivant")),
    ]
    for path, step, action in screens:
        page = body(session.get(path))
        assert primary_actions(page) == [action], path
        assert_progress(page, step, steps)
    choose(session, alice.checking)
    page = body(session.get("/link/setup"))
    assert primary_actions(page) == [tr(lang, "Get credentials", "Obtenir les identifiants")]
    assert_progress(page, 3, steps)
    for page in (body(session.post("/link/credentials")), body(session.get("/link/credentials"))):
        opens = tr(lang, "Open QuickBooks Online", "Ouvrir QuickBooks Online")
        assert [a.split(" (")[0] for a in primary_actions(page)] == [opens]
        assert_progress(page, 4, steps)
        # Item 1 and 5: the whole list of what to do in QuickBooks, from 1, after a reload too.
        steps_list = re.search(r'<ol class="steps">(.*?)</ol>', page, re.S).group(1)
        assert steps_list.count("<li>") == 3
        assert tr(lang, "Link account", "Lier un compte") in visible_text(steps_list)
        # Revoke credentials is there, as a plain link.
        assert re.search(r'<p class="secondary-action"><a href="/link/revoke">', page)
        assert 'target="_blank" rel="noopener noreferrer"' in page


def assert_progress(page: str, step: int, labels: list[str]) -> None:
    nav = re.search(r'<nav class="progress"[^>]*>(.*?)</nav>', page, re.S).group(1)
    items = re.findall(r"<li\b([^>]*)>(.*?)</li>", nav, re.S)
    assert len(items) == 4
    for n, (attributes, content) in enumerate(items, start=1):
        assert labels[n - 1] in visible_text(content)
        assert ('aria-current="step"' in attributes) == (n == step)
        assert ("is-done" in attributes) == (n < step)


@pytest.mark.parametrize("lang", LANGS)
def test_the_first_screen_says_what_is_shared_and_protected_and_can_be_cancelled(
    session, alice, lang
):
    set_language(session, lang)
    page = body(session.get("/link/"))
    text = visible_text(page)
    assert tr(lang, "What stays protected", "Ce qui reste protégé") in text
    assert tr(lang, "cannot move money", "ne peut pas déplacer d’argent") in text
    # Cancel without a return address: a page saying the user may close it.
    cancel = re.search(r'<a class="link-back" href="([^"]+)">([^<]+)</a>', page)
    assert cancel.groups() == ("/link/leave", tr(lang, "Cancel", "Annuler"))
    left = session.get("/link/leave")
    assert tr(lang, "You can close this page", "Vous pouvez fermer cette page") in assert_page(
        left, lang
    )
    org_update(return_url="https://bank.example/app")
    page = body(session.get("/link/"))
    assert re.search(r'<a class="link-back" href="https://bank.example/app">', page)


@pytest.mark.parametrize("lang", LANGS)
def test_screens_know_what_is_already_connected(session, alice, lang):
    """Item 4: coming back after linking, no screen offers to connect what is connected."""
    set_language(session, lang)
    choose(session, alice.checking)
    connect(alice.checking)
    page = body(session.get("/link/"))
    assert tr(lang, "Already connected", "Déjà connectés") in visible_text(page)
    assert "Alice Checking" in visible_text(page)
    # The chosen account got connected: set-up and credentials lead to the completion screen.
    for path in ("/link/setup", "/link/credentials"):
        response = session.get(path)
        assert (response.status_code, response["Location"]) == (302, "/link/done")
    connect(alice.card)
    page = body(session.get("/link/"))
    text = visible_text(page)
    assert tr(lang, "Your accounts are connected", "Vos comptes sont connectés") in text
    assert tr(lang, "Connect to QuickBooks Online", "Connexion à QuickBooks Online") not in text
    assert primary_actions(page) == [tr(lang, "Done", "Terminé")]
    page = body(session.get("/link/accounts"))
    assert primary_actions(page) == [tr(lang, "Done", "Terminé")]
    assert 'type="checkbox"' not in page


def test_select_all_ticks_every_account_that_can_be_chosen(session, alice):
    page = body(session.get("/link/accounts"))
    assert re.search(r'<a href="/link/accounts\?select=all">Select all</a>', page)
    assert " checked" not in page
    page = body(session.get("/link/accounts?select=all"))
    assert page.count(" checked>") == 2
    assert "select=all" not in page  # all selected: the link is gone
    connect(alice.checking)
    page = body(session.get("/link/accounts?select=all"))
    assert page.count(" checked>") == 1 and "select=all" not in page  # one left: no need


@pytest.mark.parametrize("lang", LANGS)
def test_contacts_are_links_on_every_screen_and_the_callout_too(session, alice, lang):
    """Items 9 and 11: the support contact on the normal path, as mailto:/tel: links."""
    org_update(
        support_contact="help@maple.example or (514) 555-0100",
        callout_title_en="Questions?",
        callout_body_en="Call 1 800 555-0199 or write to help@maple.example.",
        callout_title_fr="Des questions?",
        callout_body_fr="Appelez le 1 800 555-0199 ou écrivez à help@maple.example.",
    )
    set_language(session, lang)
    choose(session, alice.checking)
    for path in ("/link/", "/link/accounts", "/link/setup", "/link/credentials"):
        page = body(session.get(path))
        help_ = re.search(r'<p class="help">(.*?)</p>', page, re.S).group(1)
        assert tr(lang, "Need help?", "Besoin d’aide?") in visible_text(help_)
        assert '<a class="nowrap" href="mailto:help@maple.example">help@maple.example</a>' in help_
        assert '<a class="nowrap" href="tel:+15145550100">(514) 555-0100</a>' in help_
    callout = re.search(
        r'<aside class="callout".*?</aside>', body(session.get("/link/setup")), re.S
    )
    assert '<a class="nowrap" href="tel:+18005550199">1 800 555-0199</a>' in callout.group(0)
    assert 'href="mailto:help@maple.example"' in callout.group(0)


def test_contact_text_is_escaped_and_only_safe_schemes_are_linked(session, alice):
    org_update(support_contact='<b>x</b> javascript:alert(1) "@x.co http://plain.example')
    page = body(session.get("/link/"))
    help_ = re.search(r'<p class="help">(.*?)</p>', page, re.S).group(1)
    assert "<b>" not in help_ and "&lt;b&gt;" in help_
    assert "href" not in help_  # no e-mail, no https, no phone: nothing linked


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1-800-555-0199", [("1-800-555-0199", "tel:+18005550199")]),
        ("+1 (416) 555 0100.", [("+1 (416) 555 0100", "tel:+14165550100"), (".", None)]),
        (
            "see https://help.example/a?b=1.",
            [
                ("see ", None),
                ("https://help.example/a?b=1", "https://help.example/a?b=1"),
                (".", None),
            ],
        ),
        ("a@b.ca", [("a@b.ca", "mailto:a@b.ca")]),
        ("account 123456789012", [("account 123456789012", None)]),
        ("", []),
    ],
)
def test_contact_parts_finds_phones_mail_and_https(text, expected):
    from accounts.branding import contact_parts

    assert contact_parts(text) == expected


@pytest.mark.parametrize("lang", LANGS)
def test_the_header_names_the_bank_once_in_the_page_language(session, alice, lang):
    """Items 8 and 13: the logo alone when there is one (its alt is the name), the name in
    French when the operator gave one."""
    org_update(institution_name_fr="Banque Maple")
    set_language(session, lang)
    page = body(session.get("/link/"))
    header = re.search(r"<header\b.*?</header>", page, re.S).group(0)
    name = tr(lang, "Maple Bank", "Banque Maple")
    assert re.search(rf'<span class="institution">{name}</span>', header)
    title = tr(lang, "Connect to QuickBooks Online", "Connexion à QuickBooks Online")
    assert f"<title>{title} · {name}</title>" in page
    org_update(logo=image_bytes(), logo_content_type="image/png")
    header = re.search(r"<header\b.*?</header>", body(session.get("/link/")), re.S).group(0)
    assert f'alt="{name}"' in header
    assert 'class="institution"' not in header


def test_privacy_and_terms_are_linked_when_given(session, alice):
    page = body(session.get("/link/"))
    assert "Privacy policy" not in page
    org_update(privacy_url="https://bank.example/privacy", terms_url="https://bank.example/terms")
    footer = re.search(r"<footer\b.*?</footer>", body(session.get("/link/")), re.S).group(0)
    assert 'href="https://bank.example/privacy"' in footer and "Privacy policy" in footer
    assert 'href="https://bank.example/terms"' in footer and "Terms of use" in footer


@pytest.mark.parametrize("lang", LANGS)
def test_a_problem_page_links_back_to_the_bank(client, alice, enabled, lang):
    org_update(return_url="https://bank.example/app")
    set_language(client, lang)
    page = body(client.get("/link/start?token=nope"))
    assert re.findall(r'<a class="button" href="([^"]+)">([^<]+)</a>', page) == [
        ("https://bank.example/app", tr(lang, "Back to Maple Bank", "Retour à Maple Bank"))
    ]


@pytest.mark.parametrize(
    "address, ok",
    [
        ("https://bank.example/app", True),
        ("http://localhost:8000/", True),
        ("http://bank.example/app", False),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
    ],
)
def test_link_addresses_must_be_https(address, ok):
    from django.core.exceptions import ValidationError

    from accounts.branding import check_web_address

    if ok:
        check_web_address(address)
    else:
        with pytest.raises(ValidationError):
            check_web_address(address)
