"""Property tests of the surfaces the other fuzz tests leave out (issue 16): the QBO sandbox's
pages and the operator admin's forms and actions for linksite's own models. Whatever a browser
(or a script posing as one) sends, in any field, the answer is a page, a redirect or a refusal,
never a 5xx, and a refused form writes nothing. Hypothesis draws the fields; the session is
real. Run with -s to see, per surface, how many requests were tried and how many got a 5xx."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from html.parser import HTMLParser

import pytest
from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import (
    ApiClient,
    ApiKey,
    AuditEvent,
    Company,
    OrganizationSettings,
    PartnerKey,
)
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    DeliveryBatch,
    Feed,
    SourceAccount,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSecret,
)
from qbo_sandbox.models import (
    ChartAccount,
    FaultSettings,
    LinkedFeed,
    PullCredential,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)
from tests.makers import make_batch, make_credentials, make_feed, make_transaction

# Text a form can carry (a browser cannot send a lone surrogate), long digit runs, and values
# the pages offer, so that some draws get past the first check.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=60),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(
        [
            "9" * 5000,
            "1e999999999",
            "nan",
            "-1",
            "0",
            "1",
            " 1",
            "１",
            "\x00",
            "on",
            "new",
            "Bank",
            "Credit Card",
            "US",
            "CA",
            "USD",
            "checking",
            "https://hooks.example.com/x",
            "https://127.0.0.1/x",
            "env:prod",
            '{"a": "b"}',
            "[]",
            "2026-11-20",
            "00000000-0000-0000-0000-000000000000",
        ]
    ),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LANGUAGES = st.sampled_from(["en-CA", "fr-CA"])

# An object id in an admin address (a browser cannot put a NUL in one).
OBJECT_IDS = TEXT.filter(lambda s: s and "\x00" not in s)

TRIED: Counter[str] = Counter()
FAILED: Counter[str] = Counter()
ANSWERS: dict[str, Counter[int]] = {}
REFUSED: Counter[str] = Counter()  # forms refused (and checked to have written nothing)


@pytest.fixture(autouse=True)
def _quiet_404s():
    """The thousands of 404s and 400s drawn here are expected: log only 5xx."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def send(client: Client, surface: str, method: str, path: str, data=None, **kwargs):
    """One request, counted for the surface; a 5xx (or an exception the client re-raises, which
    would have been a 500) is counted, then fails the test."""
    TRIED[surface] += 1
    try:
        response = getattr(client, method)(path, data or {}, **kwargs)
    except Exception:
        FAILED[surface] += 1
        raise
    ANSWERS.setdefault(surface, Counter())[response.status_code] += 1
    if response.status_code >= 500:
        FAILED[surface] += 1
    assert response.status_code < 500, (method, path, data, response.status_code)
    return response


class FormFields(HTMLParser):
    """The names of a page's form fields and, for each, the values the page offers (the
    current value, a select's options, a checkbox's value)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self.initial: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag in ("input", "textarea", "select") and name and name != "csrfmiddlewaretoken":
            self.values.setdefault(name, [])
            if tag == "select":
                self._select = name
            elif attrs.get("type") in ("checkbox", "radio"):
                self.values[name].append(attrs.get("value") or "on")
                if "checked" in attrs:
                    self.initial.setdefault(name, []).append(attrs.get("value") or "on")
            elif attrs.get("type") not in ("submit", "button", "file"):
                value = attrs.get("value") or ""
                self.values[name].append(value)
                self.initial.setdefault(name, []).append(value)
        elif tag == "option" and self._select:
            value = attrs.get("value") or ""
            self.values[self._select].append(value)
            if "selected" in attrs:
                self.initial.setdefault(self._select, []).append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_of(page: bytes) -> FormFields:
    parser = FormFields()
    parser.feed(page.decode())
    return parser


def spoiled(form: FormFields, draw) -> dict[str, list[str]]:
    """The form as the page shows it, a few fields replaced by junk or by a value another
    field offers, and sometimes a field the page does not have."""
    data = {name: list(values) for name, values in form.initial.items()}
    names = sorted(form.values) or ["x"]
    offered = sorted({v for values in form.values.values() for v in values if v})
    value = TEXT | st.sampled_from(offered) if offered else TEXT
    for name in draw(st.lists(st.sampled_from([*names, "x", "id"]), max_size=4, unique=True)):
        data[name] = draw(st.lists(value, max_size=3))
    for name in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        data.pop(name, None)
    return data


# The QBO sandbox --------------------------------------------------------------------------

SANDBOX = "/qbo-sandbox/"
OFFERED = [
    {
        "id": "a",
        "displayName": "Alice Checking",
        "accountType": "checking",
        "currency": "USD",
        "balance": "10.00",
    },
    {
        "id": "b",
        "displayName": "Alice Visa",
        "accountType": "creditCard",
        "currency": "USD",
        "balance": "0.00",
    },
]


def wizard(client: Client, step: str) -> None:
    """The Link account wizard as it stands before `step`."""
    state: dict = {"institution": {"name": "Maple Bank", "logoUrl": ""}}
    if step in ("sign-in", "accounts", "accounts-pull"):
        state["terms"] = True
    if step == "accounts":
        state.update(link_session_id="ls-1", accounts=OFFERED)
    if step == "accounts-pull":
        credential = PullCredential.objects.create(username="AAAA-BBBB-CCCC", password="pw")
        state.update(pull_credential=credential.pk, accounts=OFFERED)
    session = client.session
    session["qbo_sandbox_link"] = state
    session.save()


def sandbox_rows() -> tuple[int, ...]:
    return (
        ChartAccount.objects.count(),
        LinkedFeed.objects.count(),
        PullCredential.objects.count(),
        ReceivedTransaction.objects.count(),
        ReceivedBatch.objects.count(),
    )


def fault_state() -> tuple:
    row = FaultSettings.load()
    fields = ["rate_503", "rate_429", "retry_after_seconds", "latency_ms", "rate_timeout"]
    return (
        *(getattr(row, name) for name in [*fields, "timeout_seconds", "rate_drop", "seed"]),
        tuple(LinkedFeed.objects.order_by("pk").values_list("force_410", flat=True)),
    )


@pytest.fixture
def sandbox(db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"  # linksite is never reached: nothing is linked
    SandboxCompany.current()
    feed = LinkedFeed.record(
        "fd_sandbox",
        ChartAccount.objects.get(name="Checking"),
        source_account_id="alice-chk",
        display_name="Alice Checking",
        feed_start_date=timezone.localdate(),
    )
    return feed


# The wizard's last step offers two accounts; row 2 is one the bank did not offer.
ROWS = [
    f"{name}-{i}" for i in range(3) for name in ("link", "target", "new_name", "new_type", "start")
]
# Each page that takes input, with the wizard step it needs; the fields its form has.
SANDBOX_FORMS = {
    "chart-of-accounts": (None, ["name", "account_type"]),
    "banking/link": ("search", ["q"]),
    "banking/link/terms": ("terms", ["accept"]),
    "banking/link/sign-in": ("sign-in", ["username", "password"]),
    "banking/link/accounts": (
        "accounts",
        ROWS,
    ),
    "banking/link/accounts#pull": (
        "accounts-pull",
        ROWS,
    ),
    "banking/link/cancel": ("sign-in", ["x"]),
    "faults": (
        None,
        [
            "rate_503",
            "rate_429",
            "retry_after_seconds",
            "latency_ms",
            "rate_timeout",
            "timeout_seconds",
            "rate_drop",
            "seed",
            "force_410",
        ],
    ),
    "banking/{pk}/update": (None, ["x"]),
    "banking/{pk}/edit": (None, ["disconnect"]),
}
SANDBOX_GETS = [
    "",
    "dashboard",
    "chart-of-accounts",
    "banking",
    "banking/link",
    "banking/link/terms",
    "banking/link/sign-in",
    "banking/link/accounts",
    "banking/{pk}/edit",
    "banking/updates",
    "faults",
]
PKS = st.one_of(
    st.just("{feed}"), st.integers(min_value=0, max_value=10**30).map(str), st.just("9" * 5000)
)


def _with_pk(page: str, feed: LinkedFeed, pk: str) -> str:
    return SANDBOX + page.replace("{pk}", str(feed.pk) if pk == "{feed}" else pk)


@FUZZ
@given(data=st.data(), page=st.sampled_from(sorted(SANDBOX_FORMS)), pk=PKS, lang=LANGUAGES)
def test_any_post_to_a_sandbox_page_gets_a_page_or_a_redirect(sandbox, data, page, pk, lang):
    client = Client()
    step, names = SANDBOX_FORMS[page]
    if step:
        wizard(client, step)
    today = timezone.localdate()
    value = TEXT | st.sampled_from(
        [today.isoformat(), (today - dt.timedelta(days=3)).isoformat(), str(sandbox.pk)]
        + [str(pk) for pk in ChartAccount.objects.values_list("pk", flat=True)]
    )
    fields = data.draw(
        st.dictionaries(st.sampled_from([*names, "x"]), st.lists(value, max_size=3), max_size=6)
    )
    before, faults = sandbox_rows(), fault_state()
    path = _with_pk(page.removesuffix("#pull"), sandbox, pk)
    # Pull mode: the search lists Intuit's directory entry and sign-in asks the IDX API.
    delivery = data.draw(st.sampled_from([{"push"}, {"pull"}]))
    with override_settings(QBO_DELIVERY=frozenset(delivery)):
        response = send(client, "sandbox", "post", path, fields, headers={"Accept-Language": lang})
    if response.status_code >= 400:
        REFUSED["sandbox"] += 1
        assert sandbox_rows() == before, (path, fields)
        assert fault_state() == faults, (path, fields)


@FUZZ
@given(page=st.sampled_from(SANDBOX_GETS), pk=PKS, lang=LANGUAGES, data=st.data())
def test_any_sandbox_address_gets_a_page_or_a_redirect(sandbox, page, pk, lang, data):
    client = Client()
    wizard(client, data.draw(st.sampled_from(["search", "terms", "sign-in", "accounts"])))
    query = data.draw(
        st.dictionaries(st.sampled_from(["q", "new", "x", "page", "next"]), TEXT, max_size=3)
    )
    before = sandbox_rows()
    path = _with_pk(page, sandbox, pk)
    send(client, "sandbox", "get", path, query, headers={"Accept-Language": lang})
    assert sandbox_rows() == before


@FUZZ
@given(
    feed_id=st.sampled_from(["fd_sandbox", "nope", "x" * 300, "%00", "１"]),
    body=st.binary(max_size=200) | TEXT.map(str.encode),
    headers=st.dictionaries(
        st.sampled_from(["X-Partner-Key", "X-Request-Id", "X-Signature"]), TEXT, max_size=3
    ),
)
def test_any_push_to_the_sandbox_receiver_is_refused_without_a_5xx(sandbox, feed_id, body, headers):
    client = Client()
    headers = {k: v.replace("\x00", "").replace("\n", "") for k, v in headers.items()}
    before = sandbox_rows()
    path = f"{SANDBOX}api/v1/feeds/{feed_id}/transactions"
    send(client, "sandbox", "post", path, body, content_type="application/json", headers=headers)
    assert sandbox_rows() == before  # never signed: nothing stored


# The operator admin ------------------------------------------------------------------------

OUR_MODELS = [
    OrganizationSettings,
    ApiClient,
    ApiKey,
    PartnerKey,
    Company,
    Connection,
    SourceAccount,
    Feed,
    CredentialSet,
    DeliveryBatch,
    WebhookEndpoint,
    WebhookDelivery,
]
COUNTED = [*OUR_MODELS, AuditEvent, WebhookSecret, WebhookEvent, BankTransaction]


def our_rows() -> tuple[int, ...]:
    return tuple(model._default_manager.count() for model in COUNTED)


@pytest.fixture
def admin_rows(alice, operator):
    """One row of each of our models, for the change forms and the actions."""
    OrganizationSettings.get()
    ApiKey.issue(alice.company.client, "alice-key")
    PartnerKey.issue("intuit")
    feed = make_feed(alice.checking)
    batch = make_batch(feed, status="failed", last_error="503 Service Unavailable")
    make_transaction(alice.checking, "t-1", delivery_batch=batch)
    make_credentials(alice.connection).source_accounts.add(alice.checking)
    endpoint = WebhookEndpoint.objects.create(client=alice.company.client, url="https://x.example")
    WebhookSecret.objects.create(endpoint=endpoint, seed="0" * 64)
    event = WebhookEvent.objects.create(
        client=alice.company.client, event_type="connection.created", body="{}"
    )
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, last_error="timed out")
    return alice


def admin_name(model, view: str) -> str:
    return f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"


FORM_MODELS = [m for m in OUR_MODELS if m is not WebhookDelivery]
ADD_MODELS = [m for m in FORM_MODELS if m not in (OrganizationSettings, Feed, CredentialSet)]
ADD_MODELS = [m for m in ADD_MODELS if m is not DeliveryBatch]
_pages: dict[str, FormFields] = {}
# An upload that starts like an image (or does not) and goes on with junk.
LOGOS = st.builds(
    bytes.__add__,
    st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"RIFF\0\0\0\0WEBP"]),
    st.binary(max_size=300),
)


def page_form(client: Client, url: str) -> FormFields:
    """The form of an admin page (read once per run: the fields do not change)."""
    if url not in _pages:
        response = send(client, "admin", "get", url)
        _pages[url] = form_of(response.content)
    return _pages[url]


@FUZZ
@given(
    model=st.sampled_from(FORM_MODELS),
    add=st.booleans(),
    lang=LANGUAGES,
    data=st.data(),
)
def test_any_post_to_an_admin_form_gets_a_form_error_or_a_save(
    operator_client, admin_rows, model, add, lang, data
):
    add = add and model in ADD_MODELS
    if add:
        url = reverse(admin_name(model, "add"))
    else:
        obj = model._default_manager.order_by("pk").first()
        url = reverse(admin_name(model, "change"), args=[quote(obj.pk)])
    fields = spoiled(page_form(operator_client, url), data.draw)
    fields.update(data.draw(st.sampled_from([{}, {"_save": "Save"}, {"_continue": "1"}])))
    if model is OrganizationSettings and data.draw(st.booleans()):
        name = data.draw(st.sampled_from(["logo.png", "logo.svg", "x", "l.gif"]))
        fields["logo_file"] = SimpleUploadedFile(name, data.draw(LOGOS))
    before = our_rows()
    response = send(
        operator_client, "admin", "post", url, fields, headers={"Accept-Language": lang}
    )
    if b'class="errornote"' in response.content or response.status_code >= 400:
        REFUSED["admin"] += 1
        assert our_rows() == before, (url, fields)  # refused: nothing written


ACTIONS = {
    Connection: ["unlink", "deauthorize", "delete_selected"],
    Feed: ["push_now"],
    CredentialSet: ["revoke"],
    DeliveryBatch: ["retry"],
    WebhookEndpoint: ["send_test_event", "rotate_secrets", "delete_selected"],
    WebhookDelivery: ["replay"],
    ApiKey: ["revoke"],
    PartnerKey: ["revoke"],
    ApiClient: ["delete_selected"],
    Company: ["delete_selected"],
    SourceAccount: ["delete_selected"],
}


@FUZZ
@given(model=st.sampled_from(list(ACTIONS)), data=st.data(), lang=LANGUAGES)
def test_any_admin_action_with_junk_ids_gets_a_page_or_a_redirect(
    operator_client, admin_rows, model, data, lang
):
    real = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)]
    ids = data.draw(st.lists(TEXT | st.sampled_from(real), max_size=4))
    fields = {
        "action": data.draw(st.sampled_from([*ACTIONS[model], "nope", ""]) | TEXT),
        "_selected_action": ids,
        "index": data.draw(st.sampled_from(["0", "1", "-1", "x", "9" * 50])),
    }
    if data.draw(st.booleans()):
        fields["select_across"] = data.draw(st.sampled_from(["0", "1", "x"]))
    if data.draw(st.booleans()):
        fields["post"] = "yes"  # the delete confirmation
    before = our_rows()
    url = reverse(admin_name(model, "changelist"))
    send(operator_client, "admin", "post", url, fields, headers={"Accept-Language": lang})
    if not set(ids) & set(real) and fields.get("select_across") != "1":
        assert our_rows() == before, fields


@FUZZ
@given(
    model=st.sampled_from(OUR_MODELS),
    view=st.sampled_from(["change", "delete", "history", "changelist"]),
    object_id=OBJECT_IDS,
    query=st.dictionaries(
        st.sampled_from(["q", "o", "p", "e", "state", "health", "status", "created__year", "x"]),
        TEXT,
        max_size=3,
    ),
)
def test_any_admin_address_gets_a_page_or_a_redirect(
    operator_client, admin_rows, model, view, object_id, query
):
    args = [] if view == "changelist" else [quote(object_id)]
    url = reverse(admin_name(model, view), args=args)
    before = our_rows()
    send(operator_client, "admin", "get", url, query)
    assert our_rows() == before


@FUZZ
@given(
    view=st.sampled_from(["rotate_secret", "send_test"]),
    object_id=st.one_of(st.just("{endpoint}"), OBJECT_IDS),
)
def test_the_webhook_buttons_take_any_id(operator_client, admin_rows, view, object_id):
    endpoint = WebhookEndpoint.objects.first()
    object_id = str(endpoint.pk) if object_id == "{endpoint}" else object_id
    url = reverse(f"admin:feeds_webhookendpoint_{view}", args=[quote(object_id)])
    send(operator_client, "admin", "post", url)


# What the draws above found, pinned ----------------------------------------------------------


def test_an_action_on_ids_that_cannot_be_keys_changes_nothing(operator_client, admin_rows):
    url = reverse("admin:feeds_connection_changelist")
    for ids in (["0"], ["", "9" * 5000], ["\x00"]):
        before = our_rows()
        response = operator_client.post(
            url, {"action": "deauthorize", "_selected_action": ids, "index": "0"}, follow=True
        )
        assert response.status_code == 200
        assert "Items must be selected" in response.content.decode()
        assert our_rows() == before
    response = operator_client.post(
        reverse("admin:feeds_feed_changelist"),
        {"action": "push_now", "_selected_action": ["fd\x00"], "index": "0"},
    )
    assert response.status_code == 302


def test_a_connection_form_with_a_company_that_cannot_be_one_is_shown_again(
    operator_client, admin_rows
):
    before = our_rows()
    for value in ("0", "9" * 5000, "\x00"):
        response = operator_client.post(reverse("admin:feeds_connection_add"), {"company": value})
        assert response.status_code == 200
        assert 'class="errornote"' in response.content.decode()
    response = operator_client.post(
        reverse("admin:feeds_sourceaccount_add"), {"connection": "x", "account_id": "a"}
    )
    assert 'class="errornote"' in response.content.decode()
    assert our_rows() == before


def test_summary():
    """Not a check: the figures, for a run with -s."""
    for surface in sorted(TRIED):
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(ANSWERS.get(surface, {}).items()))
        print(
            f"\n{surface}: {TRIED[surface]} requests, "
            f"{FAILED[surface]} answered 5xx ({answers});"
            f" {REFUSED[surface]} refused forms wrote nothing"
        )


@pytest.mark.parametrize(
    "changelist", ["admin:qbo_sandbox_chartaccount_changelist", "admin:auth_user_changelist"]
)
@pytest.mark.parametrize("junk", ["abc", "", "9" * 40, "1\x00"])
def test_an_action_on_any_admin_with_an_impossible_id_changes_nothing(
    operator_client, changelist, junk
):
    from django.urls import reverse

    response = operator_client.post(
        reverse(changelist),
        {"action": "delete_selected", "_selected_action": [junk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
