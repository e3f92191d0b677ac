"""The IDX partner API QBO pulls from (`product.md` §12, issue 14): every answer validated against
the published document's schemas, auth refusals, lockout, the pull-mode credential lifecycle,
the rate limit, the date window, paging under writes, masking, and the first pull's link."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import AuditEvent, PartnerKey
from feeds import credentials, pulls
from feeds.idx import shapes
from feeds.models import CredentialSet, Feed
from tests.makers import make_account, make_transaction

PUBLISHED = Path(os.environ.get("PUBLISHED_IDX_OAS", "/work/shared/oas/Codat-Intuit-IDX.json"))
BASE = "/partners/intuit/idx/"
KEY = "intuit-partner-key-1"
OTHER_KEY = "intuit-partner-key-2"
FULL_NUMBER = "000123456789"  # tests.makers' account number
SMB = Actor.smb("test")


# The published document ------------------------------------------------------------------------


def _nullable_as_json_schema(node: Any) -> Any:
    """The document is OpenAPI 3.1 but marks optional blocks with 3.0's `nullable`; read that as
    JSON Schema's type list, as its authors meant."""
    if isinstance(node, dict):
        node = {k: _nullable_as_json_schema(v) for k, v in node.items()}
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_as_json_schema(v) for v in node]
    return node


def _validators() -> dict[str, Any] | None:
    if not PUBLISHED.is_file():
        return None
    import jsonschema_rs

    document = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    components = _nullable_as_json_schema(copy.deepcopy(document["components"]))
    refs = {
        "accounts": "#/components/schemas/IntuitAccounts",
        "transactions": "#/components/schemas/IntuitTransactions",
        "account": "#/components/schemas/IntuitAccount",
        "error": "#/components/responses/Unauthorized/content/application~1json/schema",
    }
    return {
        name: jsonschema_rs.validator_for(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": ref,
                "components": components,
            },
            # Our ids are the client's strings, not the uuids the document's examples use.
            validate_formats=False,
        )
        for name, ref in refs.items()
    }


VALIDATORS = _validators()


def conforms(kind: str, body: Any) -> None:
    if VALIDATORS is None:
        return  # test_the_published_document_is_there says so
    errors = [str(e) for e in VALIDATORS[kind].iter_errors(body)]
    assert errors == [], errors


def test_the_published_document_is_there_to_validate_against():
    if VALIDATORS is None:
        pytest.skip(f"{PUBLISHED} is absent: IDX answers are not validated against it")
    conforms("error", {"statusCode": 401, "service": "x", "error": "e", "validation": None})
    with pytest.raises(AssertionError):
        conforms("accounts", {"results": [{"accountType": "chequing"}], "pageNumber": 1})


# Calling the API as QBO does -------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def headers(username: str, password: str, key: str | None = KEY) -> dict[str, str]:
    result = {"Authorization": "Basic " + b64(f"{username}:{password}")}
    if key is not None:
        result["X-Partner-Key"] = b64(key)
    return result


def idx(client, path: str, head: dict[str, str] | None = None, **params: Any):
    """A GET as QBO sends it; every answer is checked against the published schema and for the
    full account number."""
    response = client.get(BASE + path, params, headers=head or {})
    assert response["Content-Type"].startswith("application/json")
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert FULL_NUMBER not in response.content.decode()
    if response.status_code == 200:
        conforms("transactions" if path.endswith("/transactions") else "accounts", body)
    else:
        conforms("error", body)
        assert body["statusCode"] == response.status_code
        assert body["service"] == "LinksiteIdxApi"
        assert response["X-Correlation-Id"] == body["correlationId"]
    return response


@pytest.fixture
def pull_mode(settings, enabled):
    settings.QBO_DELIVERY = frozenset({"pull"})
    settings.IDX_PARTNER_KEYS = [KEY, OTHER_KEY]
    cache.clear()
    yield settings
    cache.clear()


@pytest.fixture
def issued(alice, pull_mode):
    """Credentials the SMB got on the Link page for both of alice's accounts."""
    credential_set, password = credentials.issue(
        alice.connection, [alice.checking, alice.card], origin="link", actor=SMB
    )
    return credential_set, headers(credential_set.username, password)


# Accounts --------------------------------------------------------------------------------------


def test_accounts_are_those_the_credentials_cover_in_the_published_shape(client, alice, issued):
    alice.checking.account_info = {"description": f"Operating {FULL_NUMBER}", "nickname": "Ops"}
    alice.checking.routing_number = "021000021"
    alice.checking.save()
    response = idx(client, "accounts", issued[1])
    assert response.status_code == 200
    body = response.json()
    assert (body["pageNumber"], body["pageSize"], body["totalResults"]) == (1, 100, 2)
    checking, card = body["results"]
    assert checking["id"] == "alice-chk" and card["id"] == "alice-visa"
    assert checking["accountDisplayInfo"] == {
        "displayName": "Alice Checking ••••6789",
        "description": "Operating ••••6789",
        "nickname": "Ops",
    }
    assert checking["accountType"] == "deposit" and checking["primaryCurrency"] == "USD"
    assert checking["depositAccountInfo"]["accountSubType"] == "checking"
    balance = checking["depositAccountInfo"]["depositBalance"]
    assert balance["currentBalance"] == {"currency": "USD", "amount": "100.00"}
    assert balance["availableBalance"] == {"currency": "USD", "amount": "100.00"}
    assert checking["bankRoutingInfo"] == [{"id": "021000021", "type": "rtn"}]
    assert checking["lineOfBusiness"] == "business" and checking["status"] == "open"
    assert checking["accountHolderInfo"]["holderType"] == "business"
    assert checking["modifiedDate"].endswith("Z")
    assert card["accountType"] == "creditcard"
    assert card["creditCardAccountInfo"]["accountSubType"] == "creditcard"
    assert card["depositAccountInfo"] is None


@pytest.mark.parametrize(
    ("our_type", "kind", "block", "sub_type"),
    [
        ("checking", "deposit", "depositAccountInfo", "checking"),
        ("savings", "deposit", "depositAccountInfo", "savings"),
        ("creditCard", "creditcard", "creditCardAccountInfo", "creditcard"),
        ("loan", "loan", "loanAccountInfo", "loan"),
        ("prepaidCard", "cashcard", "cashCardAccountInfo", "prepaidcard"),
    ],
)
def test_every_account_type_fills_exactly_one_info_block(alice, our_type, kind, block, sub_type):
    account = make_account(
        alice.connection,
        f"acc-{our_type}",
        account_type=our_type,
        balance=Decimal("-1234.50"),
        routing_info={"bankCode": "123456", "type": "sortcode"},
        account_info={"availableBalance": "99.10", "accountOpenDate": "2020-01-02"},
    )
    shape = shapes.account_json(account)
    conforms("account", shape)
    assert shape["accountType"] == kind
    filled = [name for name in shapes.ACCOUNT_INFO_BLOCKS if shape[name] is not None]
    assert filled == [block] and shape[block]["accountSubType"] == sub_type
    assert shape["bankRoutingInfo"] == [{"id": "123456", "type": "sortcode"}]
    assert shape["accountOpenDate"] == "2020-01-02"
    assert FULL_NUMBER not in json.dumps(shape)
    assert "-1234.50" in json.dumps(shape)


def test_accounts_are_paged(client, issued):
    first = idx(client, "accounts", issued[1], page=1, pageSize=1).json()
    second = idx(client, "accounts", issued[1], page=2, pageSize=1).json()
    beyond = idx(client, "accounts", issued[1], page=3, pageSize=1).json()
    assert [a["id"] for a in first["results"] + second["results"]] == ["alice-chk", "alice-visa"]
    assert beyond["results"] == [] and beyond["totalResults"] == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [("page", "0"), ("page", "x"), ("pageSize", "0"), ("pageSize", "2001"), ("pageSize", "-1")],
)
def test_bad_paging_is_a_400_naming_the_parameter(client, issued, name, value):
    response = idx(client, "accounts", issued[1], **{name: value})
    assert response.status_code == 400
    assert response.json()["validation"]["errors"][0]["itemId"] == name


def test_listing_accounts_costs_the_same_queries_for_many(
    client, alice, issued, django_assert_max_num_queries
):
    idx(client, "accounts", issued[1])  # binds the set: its own writes
    with django_assert_max_num_queries(8):
        idx(client, "accounts", issued[1])
    credential_set = issued[0]
    credential_set.source_accounts.add(
        *[make_account(alice.connection, f"more-{n}") for n in range(20)]
    )
    with django_assert_max_num_queries(8):
        assert idx(client, "accounts", issued[1]).json()["totalResults"] == 22


# Auth ------------------------------------------------------------------------------------------


def test_every_wrong_part_gets_the_same_401_and_unknown_callers_leave_no_rows(client, issued):
    credential_set, good = issued
    username = credential_set.username
    password = base64.b64decode(good["Authorization"].split()[1]).decode().split(":", 1)[1]
    wrong = {
        "no headers": {},
        "no partner key": headers(username, password, key=None),
        "unknown partner key": headers(username, password, key="not-a-key"),
        "partner key not base64": {**good, "X-Partner-Key": "%%%"},
        "partner key sent raw": {**good, "X-Partner-Key": KEY},
        "bearer instead of basic": {**good, "Authorization": "Bearer " + b64(password)},
        "no colon": {**good, "Authorization": "Basic " + b64(username + password)},
        "unknown username": headers("ZZZZ-ZZZZ-ZZZZ", password),
    }
    before = AuditEvent.objects.count()
    bodies = {}
    for case, head in wrong.items():
        response = idx(client, "accounts", head)
        assert response.status_code == 401, case
        bodies[case] = {k: v for k, v in response.json().items() if k != "correlationId"}
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies
    assert AuditEvent.objects.count() == before  # nothing stored for unknown callers
    wrong_password = idx(client, "accounts", headers(username, "x" * 16))
    assert wrong_password.status_code == 401
    body = {k: v for k, v in wrong_password.json().items() if k != "correlationId"}
    assert body == bodies["no headers"]
    assert "password" not in body["error"].lower().replace("authorization: basic", "")
    assert (
        AuditEvent.objects.filter(
            action="credentials.verify_failed", object_id=str(credential_set.pk)
        ).count()
        == 1
    )
    assert idx(client, "accounts", good).status_code == 200


def test_five_wrong_passwords_lock_the_set_and_its_refusals_stay_bounded(client, issued):
    credential_set, good = issued
    for _ in range(5):
        assert idx(client, "accounts", headers(credential_set.username, "wrong")).status_code == 401
    credential_set.refresh_from_db()
    assert credential_set.locked is not None
    for _ in range(10):
        assert idx(client, "accounts", good).status_code == 401
    refusals = AuditEvent.objects.filter(
        action="credentials.verify_failed", object_id=str(credential_set.pk)
    )
    assert refusals.filter(data__reason="wrong_password").count() == 5
    assert refusals.filter(data__reason="locked").count() == 1  # once an hour, not per call


def test_the_first_pull_binds_the_set_which_then_never_expires(client, issued):
    credential_set, good = issued
    assert idx(client, "accounts", good).status_code == 200
    credential_set.refresh_from_db()
    assert credential_set.used is not None
    assert (
        AuditEvent.objects.filter(
            action="credentials.bound", object_id=str(credential_set.pk)
        ).count()
        == 1
    )
    with time_machine.travel(credential_set.created + dt.timedelta(days=30)):
        assert idx(client, "accounts", good).status_code == 200
    assert AuditEvent.objects.filter(action="credentials.bound").count() == 1


def test_a_set_never_used_expires_after_60_minutes(client, alice, issued):
    credential_set, good = issued
    other, password = credentials.issue(alice.connection, [alice.card], origin="api", actor=SMB)
    with time_machine.travel(other.created + dt.timedelta(minutes=59, seconds=59)):
        assert idx(client, "accounts", headers(other.username, password)).status_code == 200
    with time_machine.travel(credential_set.created + dt.timedelta(minutes=60, seconds=1)):
        assert idx(client, "accounts", good).status_code == 401
    credential_set.refresh_from_db()
    assert credential_set.used is None


def test_a_revoked_set_gets_401_and_its_feeds_stop(client, alice, issued):
    credential_set, good = issued
    assert idx(client, "accounts/alice-chk/transactions", good).status_code == 200
    feed = Feed.objects.get(source_account=alice.checking)
    assert feed.is_active
    credentials.revoke_all(alice.connection, actor=SMB)
    assert idx(client, "accounts", good).status_code == 401
    feed.refresh_from_db()
    assert feed.disabled_on_utc is not None


def test_a_partner_key_made_in_admin_works_once_shown_and_not_after_revocation(
    client, operator_client, issued
):
    response = operator_client.post("/admin/accounts/partnerkey/add/", {"name": "Intuit prod"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = re.search(r'value="(lpk_[A-Za-z0-9_-]+)"', response.content.decode()).group(1)
    key = PartnerKey.objects.get()
    stored = json.dumps(list(PartnerKey.objects.values()), default=str)
    assert secret not in stored and key.prefix == secret[:12]
    for url in ("/admin/accounts/partnerkey/", f"/admin/accounts/partnerkey/{key.pk}/change/"):
        assert secret not in operator_client.get(url).content.decode()
    credential_set, good = issued
    with_admin_key = {**good, "X-Partner-Key": b64(secret)}
    assert idx(client, "accounts", with_admin_key).status_code == 200
    key.refresh_from_db()
    assert key.last_used is not None
    operator_client.post(
        "/admin/accounts/partnerkey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert idx(client, "accounts", with_admin_key).status_code == 401
    assert AuditEvent.objects.filter(action__startswith="partner_key.").count() == 2


def test_beyond_the_rate_a_partner_key_gets_429_with_retry_after(client, issued, pull_mode):
    pull_mode.IDX_RATE_LIMIT_PER_MINUTE = 3
    good = issued[1]
    with time_machine.travel(dt.datetime(2026, 11, 25, 12, 0, 10, tzinfo=dt.UTC), tick=False):
        for _ in range(3):
            assert idx(client, "accounts", good).status_code == 200
        limited = idx(client, "accounts", good)
        assert limited.status_code == 429
        # Windows of a minute, staggered per key (not every key's count resets at once).
        assert 1 <= int(limited["Retry-After"]) <= 60
        assert limited.json()["canBeRetried"] == "True"
        # Another partner key has its own count.
        assert idx(client, "accounts", {**good, "X-Partner-Key": b64(OTHER_KEY)}).status_code == 200
    with time_machine.travel(dt.datetime(2026, 11, 25, 12, 1, 11, tzinfo=dt.UTC), tick=False):
        assert idx(client, "accounts", good).status_code == 200
        # Callers without a known partner key share one count: past it, no more slow hashes.
        for _ in range(3):
            assert (
                idx(client, "accounts", {**good, "X-Partner-Key": b64("guess")}).status_code == 401
            )
        assert idx(client, "accounts", {**good, "X-Partner-Key": b64("guess")}).status_code == 429
        assert idx(client, "accounts", good).status_code == 200


def test_push_mode_answers_404_on_every_path(client, alice, enabled, settings):
    settings.QBO_DELIVERY = frozenset({"push"})
    settings.IDX_PARTNER_KEYS = [KEY]
    _set, password = credentials.issue(alice.connection, [alice.checking], origin="link", actor=SMB)
    good = headers(_set.username, password)
    for path in ("accounts", "accounts/alice-chk/transactions", "nothing/here"):
        response = idx(client, path, good)
        assert response.status_code == 404, path
    _set.refresh_from_db()
    assert _set.used is None  # nothing was checked, nothing bound


def test_both_modes_at_once_answer_pulls(client, issued, pull_mode):
    pull_mode.QBO_DELIVERY = frozenset({"push", "pull"})
    assert idx(client, "accounts", issued[1]).status_code == 200


def test_an_unknown_path_and_another_method_answer_in_the_error_shape(client, issued):
    assert idx(client, "nope", issued[1]).status_code == 404
    response = client.post(BASE + "accounts", headers=issued[1])
    assert response.status_code == 405 and response["Allow"] == "GET"
    conforms("error", response.json())


# Transactions ----------------------------------------------------------------------------------


def test_an_account_the_credentials_do_not_cover_is_a_404(client, alice, bob, pull_mode):
    credential_set, password = credentials.issue(
        alice.connection, [alice.checking], origin="link", actor=SMB
    )
    good = headers(credential_set.username, password)
    for account_id in ("alice-visa", "bob-chq", "missing"):
        response = idx(client, f"accounts/{account_id}/transactions", good)
        assert response.status_code == 404
        assert response.json()["validation"]["errors"][0]["itemId"] == "accountId"
    assert not Feed.objects.exists()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_window_is_utc_days_start_included_end_excluded(client, alice, issued):
    for name, stored in [
        ("before", "2026-11-19T23:59:59.999999Z"),
        ("first", "2026-11-20T00:00:00Z"),
        ("late", "2026-11-20T23:59:59Z"),
        ("next-day", "2026-11-21T00:00:00Z"),
    ]:
        make_transaction(alice.checking, name, created=at(stored))
    path = "accounts/alice-chk/transactions"

    def ids(**params: str) -> list[str]:
        body = idx(client, path, issued[1], **params).json()
        return [t["transactionId"] for t in body["results"]]

    assert ids(startDate="2026-11-20", endDate="2026-11-21") == ["first", "late"]
    assert ids(startDate="2026-11-21") == ["next-day"]
    assert ids(endDate="2026-11-20") == ["before"]
    assert ids() == ["before", "first", "late", "next-day"]
    assert ids(startDate="2026-11-20", endDate="2026-11-20") == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("startDate", "2026-13-01"), ("startDate", "20261101"), ("endDate", "yesterday")],
)
def test_a_bad_date_is_a_400_naming_it(client, issued, name, value):
    response = idx(client, "accounts/alice-chk/transactions", issued[1], **{name: value})
    assert response.status_code == 400
    body = response.json()
    assert body["validation"]["errors"][0]["itemId"] == name and name in body["error"]


def test_transactions_have_the_published_shape(client, alice, issued):
    make_transaction(
        alice.checking, "t-debit", amount=Decimal("-12.50"), date=dt.date(2026, 11, 23)
    )
    make_transaction(
        alice.checking,
        "t-credit",
        amount=Decimal("1500.00"),
        transaction_type="Credit",
        description="Invoice 42",
    )
    make_transaction(alice.card, "t-card", amount=Decimal("-3.00"))
    body = idx(client, "accounts/alice-chk/transactions", issued[1]).json()
    debit, credit = body["results"]
    assert debit["transactionId"] == "t-debit" and debit["accountId"] == "alice-chk"
    assert debit["accountType"] == "deposit"
    assert debit["amount"] == {"currency": "USD", "amount": "-12.50"}
    assert debit["transactionValueType"] == "DEBIT"
    assert debit["depositTransactionInfo"] == {"depositTransactionType": "debit"}
    assert debit["creditCardTransactionInfo"] is None
    today = timezone.localdate().isoformat()
    assert debit["transactionDate"] == debit["postedDate"] == today
    assert debit["transactionMutability"] is False and debit["status"] == "POSTED"
    assert credit["amount"]["amount"] == "1500.00" and credit["transactionValueType"] == "CREDIT"
    assert credit["transactionDescription"] == "Invoice 42"
    assert credit["modifiedDate"].endswith("Z")
    card = idx(client, "accounts/alice-visa/transactions", issued[1]).json()["results"]
    assert card[0]["accountType"] == "creditcard"
    assert card[0]["creditCardTransactionInfo"] == {"creditCardTransactionType": "debit"}


def test_pages_never_skip_or_repeat_while_writes_go_on(client, alice, issued):
    start = timezone.now() - dt.timedelta(hours=1)
    for n in range(25):
        make_transaction(alice.checking, f"old-{n:02}", created=start + dt.timedelta(seconds=n))
    path = "accounts/alice-chk/transactions"
    seen: list[str] = []
    page = 1
    while True:
        body = idx(client, path, issued[1], page=page, pageSize=10).json()
        if not body["results"]:
            break
        seen += [t["transactionId"] for t in body["results"]]
        # A client writes between two page fetches.
        make_transaction(alice.checking, f"new-{page}")
        page += 1
        assert page < 10
    assert len(seen) == len(set(seen))  # nothing repeated
    assert [s for s in seen if s.startswith("old-")] == [f"old-{n:02}" for n in range(25)]
    assert set(seen) >= {f"new-{n}" for n in range(1, page - 1)}


# The lifecycle a pull implies ------------------------------------------------------------------


def test_the_first_pull_links_the_account_and_marks_what_it_served_delivered(client, alice, issued):
    credential_set, good = issued
    for n in range(3):
        make_transaction(alice.checking, f"t-{n}")
    long_ago = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
    body = idx(
        client, "accounts/alice-chk/transactions", good, startDate=long_ago, pageSize=2
    ).json()
    assert [t["transactionId"] for t in body["results"]] == ["t-0", "t-1"]
    alice.checking.refresh_from_db()
    alice.connection.refresh_from_db()
    assert alice.checking.status == "connected" and alice.connection.status == "Linked"
    feed = Feed.objects.get(source_account=alice.checking)
    assert feed.credential_set == credential_set
    assert feed.feed_start_date == timezone.localdate() - dt.timedelta(days=7)
    assert feed.target_account_type == "Bank" and feed.target_account_name == ""
    states = dict(alice.checking.transactions.values_list("transaction_id", "delivery_state"))
    assert states == {"t-0": "delivered", "t-1": "delivered", "t-2": "pending"}
    first_served = alice.checking.transactions.get(transaction_id="t-0").delivered
    assert first_served is not None
    # A later pull changes neither the feed nor when a transaction was first served.
    idx(client, "accounts/alice-chk/transactions", good)
    assert Feed.objects.filter(source_account=alice.checking).count() == 1
    assert alice.checking.transactions.get(transaction_id="t-0").delivered == first_served
    assert alice.checking.transactions.get(transaction_id="t-2").delivery_state == "delivered"
    assert AuditEvent.objects.filter(action="feed.linked").count() == 1
    alice.card.refresh_from_db()
    assert alice.card.status == "pending"  # listing accounts or pulling another links nothing


def test_a_served_page_is_light_rows_that_shape_and_mark_as_the_models_would(alice):
    # The view reads a page as named rows of pulls.SERVED_FIELDS, not models (the pull
    # benchmark's fix): the JSON must be the model's, and marking must work on the rows.
    for n, amount in enumerate(["-12.50", "40.00", "-0.01"]):
        make_transaction(alice.checking, f"t-{n}", amount=Decimal(amount))
    window = pulls.transactions_in_window(alice.checking, None, None)
    rows = pulls.served_page(window, 1, 2) + pulls.served_page(window, 2, 2)
    models = list(window)
    assert [r.transaction_id for r in rows] == ["t-0", "t-1", "t-2"]
    for row, model in zip(rows, models, strict=True):
        assert shapes.transaction_json(row, alice.checking) == shapes.transaction_json(
            model, alice.checking
        )
    qbo = Actor.qbo()
    assert pulls.mark_served(alice.checking, rows[:2], actor=qbo) == 2
    assert pulls.mark_served(alice.checking, pulls.served_page(window, 1, 3), actor=qbo) == 1
    assert set(window.values_list("delivery_state", flat=True)) == {"delivered"}
    assert pulls.mark_served(alice.checking, pulls.served_page(window, 1, 3), actor=qbo) == 0


def test_a_first_pull_without_a_start_date_starts_the_feed_seven_days_back(client, alice, issued):
    idx(client, "accounts/alice-visa/transactions", issued[1])
    feed = Feed.objects.get(source_account=alice.card)
    assert feed.feed_start_date == timezone.localdate() - dt.timedelta(days=7)
    assert feed.target_account_type == "CreditCard"


def test_a_first_pull_with_a_recent_start_date_keeps_it(client, alice, issued):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    idx(client, "accounts/alice-chk/transactions", issued[1], startDate=yesterday.isoformat())
    assert Feed.objects.get(source_account=alice.checking).feed_start_date == yesterday


def test_a_deauthorized_connection_gets_401(client, alice, issued):
    CredentialSet.objects.filter(pk=issued[0].pk).update(used=timezone.now())
    type(alice.connection).objects.filter(pk=alice.connection.pk).update(status="Deauthorized")
    assert idx(client, "accounts", issued[1]).status_code == 401


def test_a_set_links_an_account_once_so_an_unlinked_connection_stays_unlinked(
    client, alice, issued
):
    from feeds import connection_rules

    credential_set, good = issued
    assert idx(client, "accounts/alice-chk/transactions", good).status_code == 200
    alice.connection.refresh_from_db()
    connection_rules.unlink(alice.connection, actor=SMB, reason="client")
    assert idx(client, "accounts/alice-chk/transactions", good).status_code == 404
    listed = idx(client, "accounts", good).json()["results"]
    assert [a["id"] for a in listed] == ["alice-visa"]
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Unlinked"
    assert not Feed.objects.active().exists()
    # New credentials link it anew.
    fresh, password = credentials.issue(alice.connection, [alice.checking], origin="api", actor=SMB)
    again = idx(client, "accounts/alice-chk/transactions", headers(fresh.username, password))
    assert again.status_code == 200
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Linked"


def test_a_pulled_feed_is_never_pushed_and_pull_mode_pushes_nothing(
    client, alice, issued, pull_mode
):
    from feeds.delivery.batches import feeds_to_push
    from tests.makers import make_feed

    make_transaction(alice.checking, "t-1")
    pushed = make_feed(alice.card)
    make_transaction(alice.card, "t-card")
    idx(client, "accounts/alice-chk/transactions", issued[1], pageSize=1)
    make_transaction(alice.checking, "t-2")  # pending, in a pulled feed
    pulled = Feed.objects.get(source_account=alice.checking)
    assert pulled.delivery == "pull" and pushed.delivery == "push"
    assert feeds_to_push() == []  # pull only: the daily push sends nothing
    pull_mode.QBO_DELIVERY = frozenset({"push", "pull"})
    assert feeds_to_push() == [pushed.pk]


def test_the_client_api_shows_what_a_pull_delivered(client, alice, issued, alice_api):
    make_transaction(alice.checking, "t-1")
    idx(client, "accounts/alice-chk/transactions", issued[1])
    base = (
        f"/companies/{alice.company.pk}/connections/{alice.connection.pk}"
        "/connectionInfo/bankFeedAccounts"
    )
    accounts = {a["id"]: a for a in alice_api.get(base).json()}
    assert accounts["alice-chk"]["status"] == "connected"
    assert accounts["alice-chk"]["targetAccountName"] is None  # QBO does not say it
    rows = alice_api.get(base + "/alice-chk/bankTransactions").json()["results"]
    assert rows[0]["deliveryState"] == "delivered" and rows[0]["deliveredOnUtc"]


@pytest.mark.parametrize(
    ("name", "value"), [("QBO_DELIVERY", "email"), ("IDX_RATE_LIMIT_PER_MINUTE", "0")]
)
def test_a_bad_pull_setting_stops_linksite_with_a_message(name, value):
    from tests.test_settings import PRODUCTION, manage

    result = manage("check", env={**PRODUCTION, name: value})
    assert result.returncode != 0 and name in result.stderr


def test_while_the_integration_is_off_pulls_get_403_and_bind_nothing(client, issued):
    from accounts.models import OrganizationSettings

    OrganizationSettings.objects.filter(pk=1).update(integration_enabled=False)
    assert idx(client, "accounts", issued[1]).status_code == 403
    issued[0].refresh_from_db()
    assert issued[0].used is None


def test_our_document_is_served_only_in_pull_mode(client, pull_mode):
    from feeds.idx import openapi

    assert client.get(BASE + "openapi.json").json() == openapi.document()
    pull_mode.QBO_DELIVERY = frozenset({"push"})
    assert idx(client, "openapi.json").status_code == 404


def test_a_nul_in_an_account_id_or_a_username_is_refused_not_a_crash(client, issued):
    assert idx(client, "accounts/a%00b/transactions", issued[1]).status_code == 404
    assert idx(client, "accounts", headers("ABCD\x00", "x")).status_code == 401


def test_an_account_qbo_stops_pulling_is_disconnected_after_the_grace_days(client, alice, issued):
    from feeds.maintenance import run_daily_maintenance

    pulled_at = dt.datetime(2026, 11, 2, 15, 30, tzinfo=dt.UTC)
    with time_machine.travel(pulled_at, tick=False):
        idx(client, "accounts/alice-chk/transactions", issued[1])
    feed = Feed.objects.get(source_account=alice.checking)
    assert feed.last_pulled == pulled_at
    with time_machine.travel(pulled_at + dt.timedelta(days=9, hours=23), tick=False):
        run_daily_maintenance()
    alice.checking.refresh_from_db()
    assert alice.checking.status == "connected"
    with time_machine.travel(pulled_at + dt.timedelta(days=10), tick=False):
        summary = run_daily_maintenance()
        # The set QBO pulled with outlives its expiry: it is the credential of the pulls.
        assert CredentialSet.objects.filter(pk=issued[0].pk).exists()
    assert summary["accounts_disconnected"] == 1 and summary["connections_unlinked"] == 1
    feed.refresh_from_db()
    assert feed.disabled_on_utc == pulled_at  # as of QBO's last pull
    alice.checking.refresh_from_db()
    alice.connection.refresh_from_db()
    assert alice.checking.status == "disconnected" and alice.connection.status == "Unlinked"


def test_in_pull_mode_only_unbound_or_revoked_sets_are_purged(alice, issued):
    from feeds.maintenance import run_daily_maintenance

    bound, _good = issued
    CredentialSet.objects.filter(pk=bound.pk).update(used=timezone.now())
    unused, _password = credentials.issue(alice.connection, [alice.card], origin="api", actor=SMB)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        assert run_daily_maintenance()["credential_sets_purged"] == 1
    assert list(CredentialSet.objects.values_list("pk", flat=True)) == [bound.pk]


def test_pulling_a_page_costs_the_same_queries_for_many_transactions(
    client, alice, issued, django_assert_max_num_queries
):
    path = "accounts/alice-chk/transactions"
    idx(client, path, issued[1])  # binds the set and links the account
    for n in range(3):
        make_transaction(alice.checking, f"few-{n}")
    with django_assert_max_num_queries(14):
        idx(client, path, issued[1])
    for n in range(60):
        make_transaction(alice.checking, f"many-{n}")
    with django_assert_max_num_queries(14):
        assert len(idx(client, path, issued[1]).json()["results"]) == 63


def test_a_verified_pull_is_remembered_briefly_but_revocation_and_the_lock_still_hold(
    client, alice, issued
):
    credential_set, good = issued
    assert idx(client, "accounts", good).status_code == 200  # binds and remembers
    # QBO's concurrent calls hold every attempt reservation: the remembered pull still passes.
    CredentialSet.objects.filter(pk=credential_set.pk).update(failed_attempts=5)
    assert idx(client, "accounts", good).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=6)):
        assert idx(client, "accounts", good).status_code == 401  # forgotten: checked again
    CredentialSet.objects.filter(pk=credential_set.pk).update(failed_attempts=0)
    assert idx(client, "accounts", good).status_code == 200
    CredentialSet.objects.filter(pk=credential_set.pk).update(locked=timezone.now())
    assert idx(client, "accounts", good).status_code == 401
    CredentialSet.objects.filter(pk=credential_set.pk).update(locked=None)
    assert idx(client, "accounts", good).status_code == 200
    credentials.revoke_all(alice.connection, actor=SMB)
    assert idx(client, "accounts", good).status_code == 401
