"""The QBO sandbox (`product.md` §7): its receiving endpoint, its pages, and the rule that it and
linksite share no code (they talk over HTTP only)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from qbo_sandbox.models import (
    ChartAccount,
    FaultSettings,
    FeedStatus,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)
from qbo_sandbox.views import start_date_choices
from tests.imports import imported_names, offenders

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-partner-key"
SECRET = "test-signing-secret-" + "s" * 32


# Helpers -----------------------------------------------------------------------------------


def signed(
    body: bytes,
    *,
    key: str = KEY,
    secret: str = SECRET,
    t: int | None = None,
    method: str = "POST",
    path: str = "/qbo-sandbox/api/v1/feeds/feed-1/transactions",
    request_id: str | None = None,
) -> dict:
    """Sign independently of qbo_sandbox.signing, so the test checks the protocol itself:
    "<t>.<METHOD>.<path>.<request id>.<raw body>"."""
    t = int(time.time()) if t is None else t
    request_id = uuid.uuid4().hex if request_id is None else request_id
    message = f"{t}.{method}.{path}.{request_id}.".encode() + body
    mac = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"X-Partner-Key": key, "X-Request-Id": request_id, "X-Signature": f"t={t},v1={mac}"}


def txn(txn_id: str, amount: str = "-12.50", day: dt.date | None = None, **extra) -> dict:
    day = day or dt.date(2026, 11, 20)
    return {
        "id": txn_id,
        "date": day.isoformat(),
        "clearedOnDate": day.isoformat(),
        "amount": amount,
        "currency": "USD",
        "description": f"Payment {txn_id}",
        "transactionType": "Debit" if amount.startswith("-") else "Credit",
        "balance": "100.00",
        **extra,
    }


def batch(batch_id: str, *txns: dict) -> bytes:
    return json.dumps({"batchId": batch_id, "transactions": list(txns)}).encode()


def push(client, feed_id: str, body: bytes, headers: dict | None = None):
    return client.post(
        f"/qbo-sandbox/api/v1/feeds/{feed_id}/transactions",
        data=body,
        content_type="application/json",
        headers=(
            signed(body, path=f"/qbo-sandbox/api/v1/feeds/{feed_id}/transactions")
            if headers is None
            else headers
        ),
    )


def make_feed(feed_id: str = "feed-1", account: str = "Checking", **kwargs) -> LinkedFeed:
    company = SandboxCompany.current()
    defaults = {
        "chart_account": ChartAccount.objects.get(company=company, name=account),
        "source_account_id": "alice-chk",
        "source_display_name": "Alice Checking",
        "currency": "USD",
        "institution_name": "Maple Bank",
        "feed_start_date": dt.date(2026, 11, 18),
    }
    return LinkedFeed.objects.create(feed_id=feed_id, **{**defaults, **kwargs})


def set_faults(**values) -> FaultSettings:
    faults = FaultSettings.load()
    for name, value in values.items():
        setattr(faults, name, value)
    faults.save()
    return faults


@pytest.fixture
def feed(db, settings):
    settings.QBO_PARTNER_KEY = KEY
    settings.QBO_SIGNING_SECRET = SECRET
    return make_feed()


# The receiving endpoint --------------------------------------------------------------------


def test_it_stores_a_signed_batch(client, feed):
    response = push(client, "feed-1", batch("b-1", txn("t-1"), txn("t-2", "250.00")))
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0}
    stored = ReceivedTransaction.objects.get(feed=feed, txn_id="t-2")
    assert stored.amount == Decimal("250.00")
    assert stored.cleared_on_date == dt.date(2026, 11, 20)
    assert stored.transaction_type == "Credit"
    assert stored.balance == Decimal("100.00")
    assert ReceivedBatch.objects.get(batch_id="b-1").accepted == 2


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"secret": "not-the-secret"}, id="bad-signature"),
        pytest.param({"key": "someone-else"}, id="wrong-partner-key"),
        # Offsets from the time the test runs (not when it is collected, minutes earlier).
        pytest.param({"t": -301}, id="stale-timestamp"),
        pytest.param({"t": 400}, id="future-timestamp"),
    ],
)
def test_it_refuses_a_bad_signature_and_stores_nothing(client, feed, headers):
    if "t" in headers:
        headers = {"t": int(time.time()) + headers["t"]}
    body = batch("b-1", txn("t-1"))
    response = push(client, "feed-1", body, signed(body, **headers))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not ReceivedTransaction.objects.exists()
    assert not ReceivedBatch.objects.exists()


def test_it_refuses_an_altered_body(client, feed):
    body = batch("b-1", txn("t-1"))
    headers = signed(body)
    response = push(client, "feed-1", body.replace(b"-12.50", b"-99.50"), headers)
    assert response.status_code == 401
    assert not ReceivedTransaction.objects.exists()


def test_it_accepts_a_request_id_once(client, feed):
    body = batch("b-1", txn("t-1"))
    first = push(client, "feed-1", body, signed(body, request_id="r-1"))
    again = push(
        client,
        "feed-1",
        batch("b-2", txn("t-2")),
        signed(batch("b-2", txn("t-2")), request_id="r-1"),
    )
    assert (first.status_code, again.status_code) == (200, 401)
    assert list(ReceivedBatch.objects.values_list("batch_id", flat=True)) == ["b-1"]


def test_two_identical_pushes_in_one_second_with_two_request_ids_both_get_an_answer(client, feed):
    body = batch("b-1", txn("t-1"))
    now = int(time.time())
    answers = [push(client, "feed-1", body, signed(body, t=now)).json() for _ in range(2)]
    assert answers == [{"accepted": 1, "duplicates": 0}, {"accepted": 0, "duplicates": 1}]


@pytest.mark.parametrize(
    "signed_for",
    [
        {"path": "/qbo-sandbox/api/v1/feeds/feed-2/transactions"},
        {"method": "PUT"},
        {"method": "post"},  # the method is signed upper case
    ],
    ids=["another feed", "another method", "lower-case method"],
)
def test_it_refuses_a_signature_for_another_path_or_method(client, feed, signed_for):
    body = batch("b-1", txn("t-1"))
    assert push(client, "feed-1", body, signed(body, **signed_for)).status_code == 401
    assert not ReceivedBatch.objects.exists()


@pytest.mark.parametrize("request_id", [None, "", "x" * 129, "r\u00e9"])
def test_it_refuses_a_missing_or_bad_request_id(client, feed, request_id):
    body = batch("b-1", txn("t-1"))
    headers = signed(body, request_id=request_id or "")
    if request_id is None:
        del headers["X-Request-Id"]
    else:
        headers["X-Request-Id"] = request_id
    response = push(client, "feed-1", body, headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not ReceivedBatch.objects.exists()


def test_it_refuses_missing_headers(client, feed):
    response = push(client, "feed-1", batch("b-1", txn("t-1")), headers={})
    assert response.status_code == 401
    assert not ReceivedTransaction.objects.exists()


def test_a_batch_sent_twice_counts_as_duplicates(client, feed):
    body = batch("b-1", txn("t-1"), txn("t-2"))
    assert push(client, "feed-1", body).json() == {"accepted": 2, "duplicates": 0}
    assert push(client, "feed-1", body).json() == {"accepted": 0, "duplicates": 2}
    assert ReceivedTransaction.objects.count() == 2
    feed.refresh_from_db()
    assert feed.duplicates == 2
    # Absorbed by its batch id: the batch counts a re-send, not duplicate transactions.
    assert ReceivedBatch.objects.values_list("resends", "duplicates").get() == (1, 0)


def test_a_transaction_already_received_in_another_batch_is_a_duplicate(client, feed):
    push(client, "feed-1", batch("b-1", txn("t-1")))
    response = push(client, "feed-1", batch("b-2", txn("t-1"), txn("t-3")))
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert ReceivedTransaction.objects.filter(txn_id="t-1").count() == 1
    feed.refresh_from_db()
    assert feed.duplicates == 1
    assert ReceivedBatch.objects.get(batch_id="b-2").duplicates == 1
    assert ReceivedBatch.objects.get(batch_id="b-1").resends == 0


def test_the_same_transaction_id_on_two_feeds_is_not_a_duplicate(client, feed):
    make_feed("feed-2", account="Visa", source_account_id="alice-visa")
    push(client, "feed-1", batch("b-1", txn("t-1")))
    assert push(client, "feed-2", batch("b-2", txn("t-1"))).json()["accepted"] == 1


def test_a_disconnected_feed_answers_410(client, feed):
    feed.status = FeedStatus.DISCONNECTED
    feed.save()
    response = push(client, "feed-1", batch("b-1", txn("t-1")))
    assert response.status_code == 410
    assert not ReceivedTransaction.objects.exists()


def test_a_feed_forced_to_410_answers_410(client, feed):
    feed.force_410 = True
    feed.save()
    assert push(client, "feed-1", batch("b-1", txn("t-1"))).status_code == 410
    assert not ReceivedTransaction.objects.exists()


def test_an_unknown_feed_answers_404(client, feed):
    response = push(client, "nope", batch("b-1", txn("t-1")))
    assert response.status_code == 404
    assert response.json()["error"] == "feed_not_found"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"transactions": []}).encode(),
        json.dumps({"batchId": "b-1", "transactions": "no"}).encode(),
        batch("b-1", txn("t-1", amount="abc")),
        batch("b-1", txn("t-1", amount="1.234")),
        batch("b-1", txn("t-1", amount="NaN")),
        batch("b-1", {**txn("t-1"), "clearedOnDate": "2026-13-40", "date": None}),
        batch("b-1", txn("t-1"), {"id": ""}),
    ],
)
def test_a_malformed_batch_is_refused_whole_and_never_a_500(client, feed, body):
    response = push(client, "feed-1", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_batch"
    assert not ReceivedTransaction.objects.exists()
    assert not ReceivedBatch.objects.exists()


def test_the_receiver_needs_no_csrf_token(feed):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert push(client, "feed-1", batch("b-1", txn("t-1"))).status_code == 200


# Fault injection -----------------------------------------------------------------------------


def test_a_503_rate_of_one_answers_503_and_stores_nothing(client, feed):
    set_faults(rate_503=1.0)
    response = push(client, "feed-1", batch("b-1", txn("t-1")))
    assert response.status_code == 503
    assert not ReceivedTransaction.objects.exists()


def test_a_429_rate_of_one_answers_429_with_retry_after(client, feed):
    set_faults(rate_429=1.0, retry_after_seconds=7)
    response = push(client, "feed-1", batch("b-1", txn("t-1")))
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert not ReceivedTransaction.objects.exists()


def test_added_latency_delays_the_answer(client, feed):
    set_faults(latency_ms=250)
    started = time.monotonic()
    response = push(client, "feed-1", batch("b-1", txn("t-1")))
    assert time.monotonic() - started >= 0.25
    assert response.status_code == 200


def test_a_forced_timeout_sleeps_then_stores_the_batch(client, feed):
    set_faults(rate_timeout=1.0, timeout_seconds=0.3)
    started = time.monotonic()
    response = push(client, "feed-1", batch("b-1", txn("t-1")))
    assert time.monotonic() - started >= 0.3
    # The client gave up long ago; its retry with the same batchId is then a duplicate.
    assert response.json() == {"accepted": 1, "duplicates": 0}


def test_the_same_seed_draws_the_same_faults(client, feed):
    def run() -> list[int]:
        set_faults(rate_503=0.5, seed=42)
        return [
            push(client, "feed-1", batch(f"b-{i}-{time.time_ns()}", txn(f"t-{i}"))).status_code
            for i in range(12)
        ]

    first, second = run(), run()
    assert first == second
    assert {200, 503} == set(first)


@pytest.mark.django_db(transaction=True)
def test_a_forced_timeout_makes_the_client_time_out(live_server, settings):
    settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET = KEY, SECRET
    make_feed()
    set_faults(rate_timeout=1.0, timeout_seconds=0.6)
    body = batch("b-1", txn("t-1"))
    url = f"{live_server.url}/qbo-sandbox/api/v1/feeds/feed-1/transactions"
    with pytest.raises(requests.Timeout):
        requests.post(url, data=body, headers=signed(body), timeout=(2, 0.2))
    time.sleep(0.8)  # let the server finish before the database is flushed


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_a_connection_error_for_the_client(live_server, settings):
    settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET = KEY, SECRET
    make_feed()
    set_faults(rate_drop=1.0)
    body = batch("b-1", txn("t-1"))
    url = f"{live_server.url}/qbo-sandbox/api/v1/feeds/feed-1/transactions"
    with pytest.raises(requests.RequestException):
        requests.post(url, data=body, headers=signed(body), timeout=5)
    assert not ReceivedTransaction.objects.exists()


def test_the_fault_page_saves_settings_and_410_flags(client, feed):
    response = client.post(
        "/qbo-sandbox/faults",
        {
            "rate_503": "0.25",
            "rate_429": "0",
            "retry_after_seconds": "3",
            "latency_ms": "10",
            "rate_timeout": "0",
            "timeout_seconds": "35",
            "rate_drop": "0",
            "seed": "7",
            "force_410": [str(feed.pk)],
        },
    )
    assert response.status_code == 302
    faults = FaultSettings.load()
    assert (faults.rate_503, faults.retry_after_seconds, faults.seed) == (0.25, 3, 7)
    feed.refresh_from_db()
    assert feed.force_410


def test_the_fault_page_refuses_a_rate_above_one(client, feed):
    response = client.post(
        "/qbo-sandbox/faults",
        {
            "rate_503": "1.5",
            "rate_429": "0",
            "retry_after_seconds": "1",
            "latency_ms": "0",
            "rate_timeout": "0",
            "timeout_seconds": "35",
            "rate_drop": "0",
            "seed": "0",
        },
    )
    assert response.status_code == 400
    assert FaultSettings.load().rate_503 == 0.0


# Pages ---------------------------------------------------------------------------------------


def test_the_chart_of_accounts_has_the_default_accounts_once(client, db):
    client.get("/qbo-sandbox/chart-of-accounts")
    response = client.get("/qbo-sandbox/chart-of-accounts")
    assert response.status_code == 200
    names = list(ChartAccount.objects.values_list("name", "account_type"))
    assert names == [("Checking", "Bank"), ("Savings", "Bank"), ("Visa", "CreditCard")]
    assert "QBO sandbox" in response.content.decode()


def test_add_new_creates_a_credit_card_account(client, db):
    response = client.post(
        "/qbo-sandbox/chart-of-accounts", {"name": "  Amex  Gold ", "account_type": "CreditCard"}
    )
    assert response.status_code == 302
    assert ChartAccount.objects.get(name="Amex Gold").account_type == "CreditCard"
    assert "Amex Gold" in client.get("/qbo-sandbox/chart-of-accounts").content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "account_type": "Bank"}, "Enter a name for the account."),
        ({"name": "checking", "account_type": "Bank"}, "An account with this name already exists."),
        ({"name": "Loan", "account_type": "Loan"}, "Select a valid choice."),
    ],
)
def test_add_new_shows_errors_in_the_form(client, db, data, message):
    response = client.post("/qbo-sandbox/chart-of-accounts", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ChartAccount.objects.count() == 3


def test_bank_transactions_lists_received_transactions_newest_first(
    client, feed, django_assert_max_num_queries
):
    push(
        client,
        "feed-1",
        batch(
            "b-1",
            txn("old", "-5.00", dt.date(2026, 11, 19)),
            txn("new", "1234.56", dt.date(2026, 11, 21)),
        ),
    )
    with django_assert_max_num_queries(8):
        page = client.get("/qbo-sandbox/banking").content.decode()
    assert page.index("Payment new") < page.index("Payment old")
    assert "$1,234.56" in page
    assert "Nov 21, 2026" in page
    assert "Link account" in page


def test_bank_transactions_are_formatted_in_french(client, feed):
    push(client, "feed-1", batch("b-1", txn("t-1", "1234.56"), txn("t-2", "-5.00")))
    client.cookies["django_language"] = "fr-ca"
    page = client.get("/qbo-sandbox/banking").content.decode()
    assert "1\u00a0234,56\u00a0$\u00a0US" in page
    assert "20 nov. 2026" in page
    assert "<td>Crédit</td>" in page and "<td>Débit</td>" in page


def test_transaction_types_are_words_not_protocol_values(client, feed):
    push(client, "feed-1", batch("b-1", txn("t-1", "9.00", transactionType="Unknown"), txn("t-2")))
    page = client.get("/qbo-sandbox/banking").content.decode()
    assert "<td>Unknown</td>" in page and "<td>Debit</td>" in page
    ReceivedTransaction.objects.filter(txn_id="t-1").update(transaction_type="memo")
    page = client.get("/qbo-sandbox/banking").content.decode()
    assert "memo" not in page


def test_the_pages_have_no_inline_script_or_style(client, feed):
    for path in ["dashboard", "chart-of-accounts", "banking", "faults", "banking/link"]:
        page = client.get(f"/qbo-sandbox/{path}").content.decode()
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S)
        assert all(body == "" for body in scripts), path  # only <script src=…></script>
        assert len(re.findall(r"<script\b", page)) == len(scripts), path
        assert len(re.findall(r"<script\b[^>]*\bsrc=", page)) == len(scripts), path
        assert "style=" not in page and "<style" not in page, path


def test_every_sandbox_page_extends_the_sandbox_base_which_extends_the_shared_base():
    folder = ROOT / "templates" / "qbo_sandbox"
    pages = [p for p in sorted(folder.glob("*.html")) if not p.name.startswith("_")]
    assert len(pages) > 5
    for page in pages:
        text = page.read_text("utf-8")
        expected = "base.html" if page.name == "base.html" else "qbo_sandbox/base.html"
        assert text.startswith(f'{{% extends "{expected}" %}}'), page.name
        for tag in ("<!doctype", "<html", "<head", "<meta", "<title", "<body"):
            assert not re.search(tag + r"\b", text.lower()), (page.name, tag)


def test_feed_start_dates_go_from_today_back_seven_days():
    dates = start_date_choices(dt.date(2026, 3, 2))
    assert dates[0] == dt.date(2026, 3, 2) and dates[-1] == dt.date(2026, 2, 23)
    assert len(dates) == 8
    assert start_date_choices()[0] == timezone.localdate()


def test_the_wizard_steps_need_the_earlier_steps(client, db):
    assert client.get("/qbo-sandbox/banking/link/terms").url == "/qbo-sandbox/banking/link"
    assert client.get("/qbo-sandbox/banking/link/sign-in").url == "/qbo-sandbox/banking/link"
    assert client.get("/qbo-sandbox/banking/link/accounts").url == "/qbo-sandbox/banking/link"


def test_a_linksite_that_cannot_be_reached_gets_a_clear_message(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"  # discard port: connection refused
    page = client.get("/qbo-sandbox/banking/link", {"q": "maple"}).content.decode()
    assert "Search isn&#x27;t available right now" in page


def test_the_admin_lists_the_sandbox_models(admin_client, feed):
    for model in ["linkedfeed", "chartaccount", "receivedtransaction", "faultsettings"]:
        assert admin_client.get(f"/admin/qbo_sandbox/{model}/").status_code == 200


# Against the real linksite endpoints, over HTTP ----------------------------------------------


@pytest.fixture
def over_http(live_server, settings, alice, enabled):
    """The sandbox pages calling the real linksite through the live server."""
    settings.LINKSITE_URL = live_server.url
    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET = KEY, SECRET
    return alice


def credentials_for(alice) -> tuple[str, str]:
    from accounts.audit import Actor
    from feeds import credentials
    from feeds.models import CredentialOrigin

    credential_set, password = credentials.issue(
        alice.connection,
        [alice.checking, alice.card],
        origin=CredentialOrigin.LINK,
        actor=Actor.smb(alice.connection.pk),
    )
    return credential_set.username, password


def walk_to_sign_in(client) -> None:
    page = client.get("/qbo-sandbox/banking/link", {"q": "maple"}).content.decode()
    assert "Maple Bank" in page
    assert client.post("/qbo-sandbox/banking/link").url == "/qbo-sandbox/banking/link/terms"
    response = client.post("/qbo-sandbox/banking/link/terms", {"accept": "on"})
    assert response.url == "/qbo-sandbox/banking/link/sign-in"


def banking_page(client) -> str:
    response = client.get("/qbo-sandbox/banking")
    assert response.status_code == 200
    return response.content.decode()


def test_the_institution_search_finds_the_operator_institution(client, over_http):
    page = client.get("/qbo-sandbox/banking/link", {"q": "MAPLE"}).content.decode()
    assert "Maple Bank" in page
    page = client.get("/qbo-sandbox/banking/link", {"q": "other bank"}).content.decode()
    assert "No bank matches" in page


def test_the_terms_must_be_accepted(client, db):
    session = client.session
    session["qbo_sandbox_link"] = {"institution": {"name": "Maple Bank", "logoUrl": ""}}
    session.save()
    response = client.post("/qbo-sandbox/banking/link/terms", {})
    assert response.status_code == 400
    assert "Accept the terms and conditions to continue." in response.content.decode()


def test_two_identical_calls_in_one_second_both_go_through(over_http):
    from qbo_sandbox import linksite

    # Two institution searches sign the same empty body, in the same second, with two ids.
    assert linksite.institution() == linksite.institution()


def test_wrong_credentials_are_refused_as_qbo_would(client, over_http):
    walk_to_sign_in(client)
    response = client.post(
        "/qbo-sandbox/banking/link/sign-in", {"username": "AAAA-BBBB-CCCC", "password": "nope"}
    )
    assert "We couldn&#x27;t verify these credentials." in response.content.decode()


def test_linking_updating_and_disconnecting_over_http(client, over_http):
    username, password = credentials_for(over_http)
    walk_to_sign_in(client)
    response = client.post(
        "/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password}
    )
    assert response.url == "/qbo-sandbox/banking/link/accounts"
    page = client.get("/qbo-sandbox/banking/link/accounts").content.decode()
    assert "Alice Checking" in page and "Alice Visa" in page

    three_days_ago = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    checking = ChartAccount.objects.get(name="Checking")
    response = client.post(
        "/qbo-sandbox/banking/link/accounts",
        {
            "link-0": "on",
            "target-0": str(checking.pk),
            "start-0": three_days_ago,
            "link-1": "on",
            "target-1": "new",
            "new_name-1": "Alice Visa card",
            "new_type-1": "CreditCard",
            "start-1": three_days_ago,
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert "2 accounts linked. New transactions will appear here" in banking_page(client)
    feeds = LinkedFeed.objects.order_by("chart_account__name")
    assert [f.chart_account.name for f in feeds] == ["Alice Visa card", "Checking"]
    assert {f.feed_start_date.isoformat() for f in feeds} == {three_days_ago}

    over_http.checking.refresh_from_db()
    assert over_http.checking.status == "connected"

    # The same credentials a second time are refused.
    walk_to_sign_in(client)
    response = client.post(
        "/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password}
    )
    assert "We couldn&#x27;t verify these credentials." in response.content.decode()

    feed = LinkedFeed.objects.get(chart_account=checking)
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update")
    assert response.url == "/qbo-sandbox/banking"  # the page, freshly read: POST, redirect, GET
    assert "Update requested" in banking_page(client)

    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/edit", {"disconnect": "on"})
    assert response.status_code == 302
    feed.refresh_from_db()
    assert feed.status == FeedStatus.DISCONNECTED
    body = batch("b-after", txn("t-1"))
    assert push(client, feed.feed_id, body).status_code == 410


# The import rule: the sandbox and linksite share no code --------------------------------------

FORBIDDEN_FROM_SANDBOX = {"feeds", "accounts"}
FORBIDDEN_FROM_LINKSITE = {"qbo_sandbox"}


def test_the_sandbox_imports_nothing_from_linksite():
    assert list((ROOT / "qbo_sandbox").rglob("*.py")), "no sandbox source found"
    assert offenders(["qbo_sandbox"], FORBIDDEN_FROM_SANDBOX) == []


def test_linksite_imports_nothing_from_the_sandbox():
    assert offenders(["feeds", "accounts"], FORBIDDEN_FROM_LINKSITE) == []


@pytest.mark.parametrize(
    "source",
    [
        "import feeds",
        "import feeds.models as m",
        "from feeds.models import Feed",
        "from accounts import audit",
        "def f():\n    from feeds import credentials\n    return credentials",
        "class A:\n    def m(self):\n        import accounts.models",
        "import importlib\nimportlib.import_module('feeds.models')",
        "from importlib import import_module as im\nim('feeds')",
        "__import__('accounts.audit')",
        "from django.utils.module_loading import import_string\nimport_string('feeds.x.Y')",
        "from django.apps import apps\napps.get_model('accounts', 'Company')",
        "from django.db import models\nF = models.ForeignKey('feeds.Feed', on_delete=None)",
        "from ... import feeds",
        "from ...accounts import models",
        "import importlib as il\nil.import_module('accounts')",
        "import importlib\nload = importlib.import_module\nload('feeds')",
        "from django.apps import apps\nget = apps.get_model\nget('accounts', 'Company')",
    ],
)
def test_the_import_rule_catches_every_way_to_import(source):
    # Pretend the code sits in qbo_sandbox/templatetags/x.py (relative imports reach the root).
    path = ROOT / "qbo_sandbox" / "templatetags" / "x.py"
    names = imported_names(source, path)
    assert any(name.split(".")[0] in FORBIDDEN_FROM_SANDBOX for name in names), names


def test_the_import_rule_flags_getattr_on_importlib():
    names = imported_names("import importlib\ngetattr(importlib, 'import_module')('feeds')", ROOT)
    assert any(name.startswith("<dynamic") for name in names)


def linked_session(client) -> None:
    """The wizard as it stands after linksite verified the credentials."""
    session = client.session
    session["qbo_sandbox_link"] = {
        "institution": {"name": "Maple Bank", "logoUrl": ""},
        "terms": True,
        "link_session_id": "ls-1",
        "accounts": [
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
        ],
    }
    session.save()


def test_the_target_select_offers_only_accounts_without_an_active_feed(client, feed):
    make_feed("feed-old", account="Savings", status=FeedStatus.DISCONNECTED)
    linked_session(client)
    page = client.get("/qbo-sandbox/banking/link/accounts").content.decode()
    assert "Savings (Bank)" in page and "Visa (Credit Card)" in page
    assert "Checking (Bank)" not in page  # feed-1 feeds it
    assert page.count(">+ Add new</option>") == 2


def test_connect_refuses_one_target_for_two_accounts_before_calling_linksite(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"  # never reached
    linked_session(client)
    savings = ChartAccount.objects.get(name="Savings")
    today = timezone.localdate().isoformat()
    response = client.post(
        "/qbo-sandbox/banking/link/accounts",
        {
            "link-0": "on",
            "target-0": str(savings.pk),
            "start-0": today,
            "link-1": "on",
            "target-1": str(savings.pk),
            "start-1": today,
        },
    )
    assert response.status_code == 400
    assert "Each account can receive only one bank feed." in response.content.decode()
    assert not LinkedFeed.objects.exists()


def test_connect_needs_an_account_and_a_date_from_the_list(client, db):
    linked_session(client)
    response = client.post("/qbo-sandbox/banking/link/accounts", {})
    assert "Select at least one account to link." in response.content.decode()
    response = client.post(
        "/qbo-sandbox/banking/link/accounts",
        {"link-0": "on", "target-0": "new", "new_name-0": "", "start-0": "2001-01-01"},
    )
    page = response.content.decode()
    assert "Enter a name for the account." in page and "Choose a date from the list." in page


def test_a_new_account_is_undone_when_linksite_cannot_be_reached(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    response = client.post(
        "/qbo-sandbox/banking/link/accounts",
        {
            "link-0": "on",
            "target-0": "new",
            "new_name-0": "Operating",
            "new_type-0": "Bank",
            "start-0": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 400
    assert "couldn&#x27;t reach your bank" in response.content.decode()
    assert not ChartAccount.objects.filter(name="Operating").exists()


# Hostile input: the form page, never a 500, nothing written ----------------------------------

HUGE = "9" * 5000
NUL = "\x00"


def post_accounts(client, **fields):
    """The wizard's last step with row 0 ticked, a valid mapping, and `fields` over it."""
    data = {
        "link-0": "on",
        "target-0": "new",
        "new_name-0": "Operating",
        "new_type-0": "Bank",
        "start-0": timezone.localdate().isoformat(),
        **fields,
    }
    return client.post("/qbo-sandbox/banking/link/accounts", data)


def assert_nothing_linked() -> None:
    assert ChartAccount.objects.count() == 3
    assert not LinkedFeed.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target-0", HUGE, "Choose the QuickBooks account for this bank account."),
        ("target-0", NUL, "Choose the QuickBooks account for this bank account."),
        ("target-0", "-1", "Choose the QuickBooks account for this bank account."),
        ("target-0", "", "Choose the QuickBooks account for this bank account."),
        ("new_type-0", HUGE, "Choose Bank or Credit Card."),
        ("new_type-0", "Loan", "Choose Bank or Credit Card."),
        ("new_type-0", "", "Choose Bank or Credit Card."),
        ("new_name-0", "x" * 5000, "Ensure this value has at most 100 characters"),
        ("new_name-0", f"Op{NUL}erating", "Null characters are not allowed."),
        ("new_name-0", " ", "Enter a name for the account."),
        ("start-0", HUGE, "Choose a date from the list."),
        ("start-0", NUL, "Choose a date from the list."),
        ("start-0", "2001-01-01", "Choose a date from the list."),
        ("start-0", "", "Choose a date from the list."),
    ],
)
def test_connect_refuses_a_hostile_value_next_to_its_field_and_writes_nothing(
    client, db, settings, field, value, message
):
    settings.LINKSITE_URL = "http://127.0.0.1:9"  # never reached
    linked_session(client)
    response = post_accounts(client, **{field: value})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Fix the highlighted fields." in page
    error = re.search(rf'<span class="error" id="{field}-error">([^<]*)</span>', page)
    assert error, f"no error next to {field}"
    assert message in html.unescape(error.group(1))
    assert re.search(
        rf'name="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"', page
    )
    assert "couldn&#x27;t reach your bank" not in page
    assert_nothing_linked()


def test_connect_refuses_a_target_already_fed_or_from_nowhere(client, feed, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    checking = ChartAccount.objects.get(name="Checking")  # feed-1 feeds it
    for target in (str(checking.pk), "9" * 30, "１"):
        response = post_accounts(client, **{"target-0": target})
        assert response.status_code == 400
        assert "Choose the QuickBooks account for this bank account." in response.content.decode()
    assert list(LinkedFeed.objects.values_list("feed_id", flat=True)) == ["feed-1"]
    assert ChartAccount.objects.count() == 3


def test_connect_refuses_two_new_accounts_of_the_same_name(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    today = timezone.localdate().isoformat()
    response = post_accounts(
        client,
        **{
            "link-1": "on",
            "target-1": "new",
            "new_name-1": " operating ",
            "new_type-1": "CreditCard",
            "start-1": today,
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'id="new_name-1-error">An account with this name already exists.<', page)
    assert 'id="new_name-0-error"' not in page
    assert_nothing_linked()


def test_an_account_left_unticked_needs_nothing_else(client, db, settings):
    """Row 1 unticked and empty: the mapping of row 0 alone is checked, and goes to linksite."""
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    response = post_accounts(client, **{"target-1": "", "new_type-1": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "couldn&#x27;t reach your bank" in page
    assert 'class="error" id=' not in page
    assert_nothing_linked()


def test_connect_ignores_rows_the_bank_did_not_offer(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    response = post_accounts(client, **{"link-7": "on", "target-7": HUGE, "start-7": NUL})
    assert "couldn&#x27;t reach your bank" in response.content.decode()
    assert_nothing_linked()


def test_connect_errors_are_in_french_for_a_french_user(client, db, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    linked_session(client)
    client.cookies["django_language"] = "fr-ca"
    response = post_accounts(client, **{"target-0": HUGE, "start-0": NUL})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Corrigez les champs en surbrillance." in page
    assert "Choisissez le compte QuickBooks pour ce compte bancaire." in page
    assert "Choisissez une date dans la liste." in page
    assert_nothing_linked()


# Valid fault settings (a 503 rate of one half), for the tests that spoil one field.
FAULTS = {
    "rate_503": "0.5",
    "rate_429": "0",
    "retry_after_seconds": "1",
    "latency_ms": "0",
    "rate_timeout": "0",
    "timeout_seconds": "35",
    "rate_drop": "0",
    "seed": "0",
}


@pytest.mark.parametrize("value", [HUGE, NUL, "-1", "abc", "9" * 30])
def test_the_fault_page_refuses_an_unknown_feed_and_saves_nothing(client, feed, value):
    response = client.post("/qbo-sandbox/faults", {**FAULTS, "force_410": [str(feed.pk), value]})
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'<p class="error" id="force_410-error">Choose feeds from the list.</p>', page)
    assert HUGE not in page
    assert FaultSettings.load().rate_503 == 0.0
    feed.refresh_from_db()
    assert not feed.force_410


@pytest.mark.parametrize("field", ["rate_429", "latency_ms", "seed"])
@pytest.mark.parametrize("value", [HUGE, NUL, "1e999", "nan", "9" * 30])
def test_the_fault_page_refuses_hostile_numbers_and_saves_nothing(client, feed, field, value):
    fields = {**FAULTS, "force_410": [str(feed.pk)]}
    response = client.post("/qbo-sandbox/faults", {**fields, field: value})
    assert response.status_code == 400
    assert re.search(
        rf'<span class="error" id="{field}-error">[^<]+</span>', response.content.decode()
    )
    assert FaultSettings.load().rate_503 == 0.0
    feed.refresh_from_db()
    assert not feed.force_410


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x" * 5000, "account_type": "Bank"}, "Ensure this value has at most 100"),
        ({"name": f"Loan{NUL}", "account_type": "Bank"}, "Null characters are not allowed."),
        ({"name": "Loan", "account_type": HUGE}, "Select a valid choice."),
    ],
)
def test_add_new_refuses_hostile_values_and_creates_nothing(client, db, data, message):
    response = client.post("/qbo-sandbox/chart-of-accounts", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ChartAccount.objects.count() == 3


@pytest.mark.parametrize("field", ["username", "password"])
@pytest.mark.parametrize("value", [HUGE, f"AAAA{NUL}"])
def test_sign_in_refuses_hostile_credentials_without_calling_linksite(
    client, db, settings, field, value
):
    settings.LINKSITE_URL = "http://127.0.0.1:9"  # a call would say the bank is unreachable
    session = client.session
    session["qbo_sandbox_link"] = {
        "institution": {"name": "Maple Bank", "logoUrl": ""},
        "terms": True,
    }
    session.save()
    data = {"username": "AAAA-BBBB-CCCC", "password": "secret", field: value}
    response = client.post("/qbo-sandbox/banking/link/sign-in", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="{field}-error"' in page
    assert "couldn&#x27;t reach your bank" not in page
    assert "link_session_id" not in client.session["qbo_sandbox_link"]


# What the SMB user reads (issue 17, item 15) ---------------------------------------------------

SANDBOX_TEXTS = [
    *sorted((ROOT / "qbo_sandbox").glob("*.py")),
    *sorted((ROOT / "qbo_sandbox" / "templatetags").glob("*.py")),
    *sorted((ROOT / "templates" / "qbo_sandbox").glob("*.html")),
]


def at_sign_in(client) -> None:
    session = client.session
    session["qbo_sandbox_link"] = {
        "institution": {"name": "Maple Bank", "logoUrl": ""},
        "terms": True,
    }
    session.save()


def test_the_sandbox_says_username_as_the_link_pages_do():
    said = [p.name for p in SANDBOX_TEXTS if re.search(r"user id", p.read_text("utf-8"), re.I)]
    assert said == []


def test_the_sign_in_page_asks_for_a_username(client, db):
    at_sign_in(client)
    page = client.get("/qbo-sandbox/banking/link/sign-in").content.decode()
    assert '<label for="username">Username</label>' in page
    page = client.post("/qbo-sandbox/banking/link/sign-in", {"password": "x"}).content.decode()
    assert '<span class="error" id="username-error">Enter your username.</span>' in page
    client.cookies["django_language"] = "fr-ca"
    page = client.post("/qbo-sandbox/banking/link/sign-in", {"password": "x"}).content.decode()
    assert '<label for="username">Nom d’utilisateur</label>' in page
    assert "Entrez votre nom d’utilisateur." in page


def test_no_sandbox_text_leaves_its_plural_to_the_reader():
    said = [p.name for p in SANDBOX_TEXTS if re.search(r"\w\(s\)", p.read_text("utf-8"))]
    assert said == []


def test_the_dashboard_counts_in_the_singular_and_the_plural(client, feed):
    page = client.get("/qbo-sandbox/dashboard").content.decode()
    assert "</span> accounts in the chart of accounts</li>" in page  # 3
    assert "</span> linked bank feed</li>" in page  # 1
    assert "</span> bank transactions received</li>" in page  # 0
    client.cookies["django_language"] = "fr-ca"
    page = client.get("/qbo-sandbox/dashboard").content.decode()
    assert "</span> flux bancaire lié</li>" in page
    assert "</span> transaction bancaire reçue</li>" in page  # French: 0 is singular


def test_linking_one_account_says_so_in_the_singular_in_french(client, over_http):
    username, password = credentials_for(over_http)
    walk_to_sign_in(client)
    client.post("/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password})
    client.cookies["django_language"] = "fr-ca"
    response = post_accounts(client)
    assert response.url == "/qbo-sandbox/banking", response.content.decode()
    assert "1 compte lié. Les nouvelles transactions apparaîtront ici" in banking_page(client)


def offered(account_type: str, balance: str, currency: str = "USD") -> dict:
    return {"accountType": account_type, "currency": currency, "balance": balance}


@pytest.mark.parametrize(
    ("account", "english", "french"),
    [
        (
            offered("creditCard", "-1873.52"),
            "Credit card · USD · Owed: $1,873.52",
            "Carte de crédit · USD · Solde dû\u00a0: 1\u00a0873,52\u00a0$\u00a0US",
        ),
        (
            offered("creditCard", "25.00", "CAD"),
            "Credit card · CAD · Credit balance: $25.00",
            "Carte de crédit · CAD · Solde créditeur\u00a0: 25,00\u00a0$",
        ),
        (
            offered("creditCard", "0"),
            "Credit card · USD · Nothing owed",
            "Carte de crédit · USD · Aucun solde dû",
        ),
        (
            offered("checking", "12450.18"),
            "Checking · USD · Balance: $12,450.18",
            "Compte chèques · USD · Solde\u00a0: 12\u00a0450,18\u00a0$\u00a0US",
        ),
        (
            offered("savings", "-3.5", "CAD"),
            "Savings · CAD · Balance: -$3.50",
            "Compte d’épargne · CAD · Solde\u00a0: -3,50\u00a0$",
        ),
        (offered("moneymarket", "not a number"), "USD", "USD"),
        (offered("loan", "NaN", ""), "Loan", "Prêt"),
        (offered("prepaidCard", "1e999999"), "Prepaid card · USD", "Carte prépayée · USD"),
    ],
)
def test_an_offered_account_reads_as_words_and_money(account, english, french):
    from django.utils import translation

    from qbo_sandbox.templatetags.sandboxformat import account_facts

    with translation.override("en"):
        assert account_facts(account) == english
    with translation.override("fr-ca"):
        assert account_facts(account) == french


@pytest.mark.parametrize(("currency", "country"), [("USD", "US"), ("CAD", "CA")])
@pytest.mark.parametrize("language", ["en", "fr-ca"])
def test_the_sandbox_formats_money_as_linksite_does(currency, country, language):
    """The sandbox keeps its own copy of `feeds.formatting.money` (it may import nothing of
    linksite's): the two must agree for the currency's own country."""
    from django.utils import translation

    from feeds import formatting
    from qbo_sandbox.templatetags.sandboxformat import money

    with translation.override(language):
        for amount in (Decimal("1873.52"), Decimal("-0.05"), Decimal("1234567")):
            assert money(amount, currency) == formatting.money(amount, currency, country)


def test_the_accounts_step_shows_types_and_balances_for_people(client, db):
    linked_session(client)
    session = client.session
    session["qbo_sandbox_link"]["accounts"][1]["balance"] = "-1873.52"
    session.save()
    page = client.get("/qbo-sandbox/banking/link/accounts").content.decode()
    assert "Checking · USD · Balance: $10.00" in page
    assert "Credit card · USD · Owed: $1,873.52" in page
    assert "creditCard" not in page and "-1873.52" not in page
    client.cookies["django_language"] = "fr-ca"
    page = client.get("/qbo-sandbox/banking/link/accounts").content.decode()
    assert "Carte de crédit · USD · Solde dû\u00a0: 1\u00a0873,52\u00a0$\u00a0US" in page


# Update: the page shows what the push brought ------------------------------------------------


def link_checking_over_http(client, alice) -> LinkedFeed:
    username, password = credentials_for(alice)
    walk_to_sign_in(client)
    client.post("/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password})
    checking = ChartAccount.objects.get(name="Checking")
    response = post_accounts(client, **{"target-0": str(checking.pk)})
    assert response.status_code == 302, response.content.decode()
    return LinkedFeed.objects.get(chart_account=checking)


def pending_updates(client) -> list[int]:
    response = client.get("/qbo-sandbox/banking/updates")
    assert response["Cache-Control"].startswith("max-age=0")
    return response.json()["pending"]


def test_after_update_the_page_waits_for_the_push_then_shows_it(client, over_http):
    from feeds.delivery.push import push_feed
    from tests.makers import make_transaction

    feed = link_checking_over_http(client, over_http)
    assert pending_updates(client) == []
    make_transaction(over_http.checking, "t-up", description="Catering", amount=Decimal("250"))

    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update")
    assert response.url == "/qbo-sandbox/banking"
    page = banking_page(client)
    status = re.search(
        r'<p class="update-status" role="status" data-poll="([^"]+)">(.*?)</p>', page
    )
    assert status, page
    assert status.group(1) == "/qbo-sandbox/banking/updates"
    assert "Waiting for your bank" in status.group(2)
    assert '<a href="/qbo-sandbox/banking">Refresh</a>' in status.group(2)  # without JavaScript
    assert re.search(r'<script src="[^"]*qbo_sandbox/banking\.js" defer></script>', page)
    assert "Catering" not in page
    assert pending_updates(client) == [feed.pk]

    # linksite's worker pushes (here the worker's own function, over HTTP to the sandbox).
    assert push_feed(str(feed.feed_id), "update").outcome == "done"
    assert pending_updates(client) == [feed.pk]  # a next batch of the same push may follow
    # Three seconds later, with no other batch:
    earlier = timezone.now() - dt.timedelta(seconds=3)
    LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=earlier)
    ReceivedBatch.objects.update(received_at=earlier + dt.timedelta(milliseconds=500))
    assert pending_updates(client) == []
    page = banking_page(client)
    assert "data-poll" not in page and "Catering" in page
    assert re.search(r"Last update: [^<]+ · 1 new transaction received since<", page)


def test_an_update_that_brings_nothing_stops_waiting(client, feed):
    from qbo_sandbox.models import UPDATE_QUIET, UPDATE_WAIT

    now = timezone.now()
    LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=now - dt.timedelta(seconds=1))
    assert pending_updates(client) == [feed.pk]
    LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=now - UPDATE_WAIT)
    assert pending_updates(client) == []
    page = banking_page(client)
    assert "data-poll" not in page
    assert re.search(r"Last update: [^<]+ · 0 new transactions received since<", page)
    client.cookies["django_language"] = "fr-ca"
    page = banking_page(client)
    assert re.search(
        r"Dernière mise à jour\u00a0: [^<]+ · 0 nouvelle transaction reçue depuis<", page
    )

    # A batch that came before the Update is not what it brought; one just after is.
    push(client, "feed-1", batch("b-1", txn("t-1"), txn("t-2")))
    feed = LinkedFeed.objects.with_update_progress().get(pk=feed.pk)
    assert feed.received_since_update == 2
    LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=timezone.now())
    feed = LinkedFeed.objects.with_update_progress().get(pk=feed.pk)
    assert feed.received_since_update == 0 and feed.last_batch_since_update is None
    received = timezone.now() - dt.timedelta(seconds=10)
    ReceivedBatch.objects.update(received_at=received)
    LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=received)
    feed = LinkedFeed.objects.with_update_progress().get(pk=feed.pk)
    assert feed.last_batch_since_update == received
    assert feed.update_pending(received + UPDATE_QUIET - dt.timedelta(milliseconds=1))
    assert not feed.update_pending(received + UPDATE_QUIET)


def test_a_refused_or_pulled_or_disconnected_update_waits_for_nothing(client, feed, settings):
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert "couldn&#x27;t reach your bank" in response.content.decode()
    feed.refresh_from_db()
    assert feed.update_requested_at is None
    assert "data-poll" not in banking_page(client)
    LinkedFeed.objects.filter(pk=feed.pk).update(
        update_requested_at=timezone.now(), status=FeedStatus.DISCONNECTED
    )
    assert pending_updates(client) == []
    assert "Last update" not in banking_page(client)


def test_the_update_script_is_a_static_file_that_polls_then_reloads():
    script = (ROOT / "static" / "qbo_sandbox" / "banking.js").read_text("utf-8")
    assert "[data-poll]" in script and "location.reload()" in script


# A wrong password: how many tries are left ---------------------------------------------------


def sign_in_as(client, username: str, password: str) -> str:
    response = client.post(
        "/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password}
    )
    return html.unescape(response.content.decode())


def test_the_sandbox_locks_after_as_many_tries_as_linksite():
    from feeds.credentials import MAX_FAILED_ATTEMPTS
    from qbo_sandbox.views import LOCK_AFTER

    assert LOCK_AFTER == MAX_FAILED_ATTEMPTS


def test_a_wrong_password_says_how_many_tries_are_left(client, over_http):
    from feeds.models import CredentialSet

    username, password = credentials_for(over_http)
    walk_to_sign_in(client)
    page = sign_in_as(client, username, "wrong")
    assert "We couldn't verify these credentials." in page
    assert "4 tries left before these credentials are locked." in page
    assert "3 tries left" in sign_in_as(client, f" {username.lower()} ", "wrong")  # as linksite
    assert "4 tries left" in sign_in_as(client, "AAAA-BBBB-CCCC", "wrong")  # another username
    client.cookies["django_language"] = "fr-ca"
    assert "Il vous reste 2 essais avant que ces identifiants" in sign_in_as(client, username, "x")
    client.cookies["django_language"] = "en"
    assert "1 try left before these credentials are locked." in sign_in_as(client, username, "x")
    assert CredentialSet.objects.get(username=username).locked is None
    page = sign_in_as(client, username, "wrong")
    assert "After 5 failed tries, these credentials are locked. Get new ones" in page
    assert "tries left" not in page
    # linksite counted the same: the set is locked, the right password no longer opens it.
    assert CredentialSet.objects.get(username=username).locked is not None
    assert "these credentials are locked" in sign_in_as(client, username, password)


def test_the_right_password_forgets_the_wrong_ones(client, over_http):
    username, password = credentials_for(over_http)
    walk_to_sign_in(client)
    sign_in_as(client, username, "wrong")
    sign_in_as(client, "AAAA-BBBB-CCCC", "wrong")
    assert set(client.session["qbo_sandbox_failed_sign_ins"]) == {username, "AAAA-BBBB-CCCC"}
    client.post("/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password})
    assert client.session["qbo_sandbox_failed_sign_ins"] == {"AAAA-BBBB-CCCC": 1}


def test_the_tries_are_counted_for_a_few_usernames_only(client, over_http):
    from qbo_sandbox.views import USERNAMES_COUNTED

    walk_to_sign_in(client)
    session = client.session
    session["qbo_sandbox_failed_sign_ins"] = {f"U-{i}": 1 for i in range(USERNAMES_COUNTED)}
    session.save()
    assert "4 tries left" in sign_in_as(client, "AAAA-BBBB-CCCC", "wrong")
    counts = client.session["qbo_sandbox_failed_sign_ins"]
    assert len(counts) == USERNAMES_COUNTED
    assert "U-0" not in counts and counts["AAAA-BBBB-CCCC"] == 1
