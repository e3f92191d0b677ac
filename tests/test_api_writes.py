"""Writing bank transactions through the API: every rule of `product.md` §8, its boundaries, and
`Idempotency-Key`. Accounts are made `connected` through the domain (`feeds.feed_rules`), never
through a shortcut in the API."""

from __future__ import annotations

import datetime as dt
import math
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import OrganizationSettings
from feeds import feed_rules
from feeds.models import BankTransaction, IdempotencyKey, PushOperation, SourceAccount
from tests.conftest import Api, issue_key

# 2026-11-25 12:00 in Toronto (UTC-5): a plain weekday, far from midnight.
NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 25)


@pytest.fixture(autouse=True)
def frozen_noon():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def link(account: SourceAccount, start: dt.date):
    return feed_rules.link_feed(
        account,
        target_account_id="35",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=start,
        actor=Actor.system(),
    )


@pytest.fixture
def linked(alice):
    alice.feed = link(alice.checking, TODAY - dt.timedelta(days=7))
    return alice


def path(company, connection, account_id: str = "alice-chk") -> str:
    return (
        f"/companies/{company.pk}/connections/{connection.pk}/push/bankAccounts/{account_id}"
        "/bankTransactions"
    )


def txn(tid: str, day: dt.date = TODAY, amount="-12.50", **extra) -> dict:
    item = {"id": tid, "clearedOnDate": day.isoformat(), "amount": amount, "description": "Beans"}
    return item | extra


def write(api: Api, people, transactions, account_id: str = "alice-chk", **headers):
    body = {"accountId": account_id, "transactions": transactions}
    return api.post(path(people.company, people.connection, account_id), body, **headers)


def errors_of(response) -> list[tuple[str, str]]:
    return [(e["itemId"], e["validatorName"]) for e in response.json()["validation"]["errors"]]


def warnings_of(response) -> list[tuple[str, str]]:
    return [(e["itemId"], e["validatorName"]) for e in response.json()["validation"]["warnings"]]


def stored_ids(account) -> list[str]:
    return list(
        BankTransaction.objects.filter(source_account=account)
        .order_by("cleared_on_date", "id")
        .values_list("transaction_id", flat=True)
    )


# Success ----------------------------------------------------------------------------------------


def test_a_valid_write_is_stored_and_answered_with_a_successful_push_operation(alice_api, linked):
    response = write(alice_api, linked, [txn("t-1", TODAY - dt.timedelta(days=1)), txn("t-2")])
    assert response.status_code == 200
    operation = response.json()
    assert operation["status"] == "Success"
    assert operation["statusCode"] == 200
    assert operation["transactionCount"] == 2
    assert operation["validation"] == {"errors": [], "warnings": []}
    assert operation["accountId"] == "alice-chk"
    assert operation["completedOnUtc"] is not None
    assert stored_ids(linked.checking) == ["t-1", "t-2"]
    assert set(BankTransaction.objects.values_list("delivery_state", flat=True)) == {"pending"}
    again = alice_api.get(f"/companies/{linked.company.pk}/push/{operation['pushOperationKey']}")
    assert again.status_code == 200 and again.json() == operation


def test_a_client_that_sends_only_date_gets_it_as_the_cleared_date(alice_api, linked):
    item = {"id": "d-1", "date": "2026-11-24", "amount": 5, "description": "Deposit"}
    response = write(alice_api, linked, [item])
    assert response.json()["status"] == "Success"
    row = BankTransaction.objects.get(transaction_id="d-1")
    assert (row.date, row.cleared_on_date) == (dt.date(2026, 11, 24), dt.date(2026, 11, 24))
    assert row.transaction_type == "Credit"


def test_a_time_part_and_offset_are_ignored_so_the_date_never_shifts(alice_api, linked):
    # 23:30 at UTC-8 is the next day in UTC; the calendar date as written is what counts.
    item = txn("late", amount="-3.00")
    item["clearedOnDate"] = "2026-11-24T23:30:00-08:00"
    item["date"] = "2026-11-23T00:15:00Z"
    response = write(alice_api, linked, [item])
    assert response.json()["status"] == "Success", response.json()
    row = BankTransaction.objects.get(transaction_id="late")
    assert (row.date, row.cleared_on_date) == (dt.date(2026, 11, 23), dt.date(2026, 11, 24))


def test_amounts_and_balances_are_exact_decimals(alice_api, linked):
    items = [
        txn("a", amount=0.1, balance="0.10"),
        txn("b", amount="0.20", balance=0.3),
        txn("c", amount=-1234567890123.45, balance=9999999999999.99),
    ]
    assert write(alice_api, linked, items).json()["status"] == "Success"
    rows = {r.transaction_id: r for r in BankTransaction.objects.all()}
    assert rows["a"].amount + rows["b"].amount == Decimal("0.30")
    assert rows["c"].amount == Decimal("-1234567890123.45")
    listing = alice_api.get(
        f"/companies/{linked.company.pk}/connections/{linked.connection.pk}"
        "/connectionInfo/bankFeedAccounts/alice-chk/bankTransactions"
    )
    assert b'"amount": -1234567890123.45' in listing.content
    account = SourceAccount.objects.get(pk=linked.checking.pk)
    assert account.balance == Decimal("9999999999999.99")


def test_the_last_transactions_balance_becomes_the_accounts_balance(alice_api, linked):
    write(alice_api, linked, [txn("x-1", balance="50.00"), txn("x-2", balance="37.50")])
    assert SourceAccount.objects.get(pk=linked.checking.pk).balance == Decimal("37.50")
    write(alice_api, linked, [txn("x-3", balance="20.00"), txn("x-4")])
    assert SourceAccount.objects.get(pk=linked.checking.pk).balance == Decimal("37.50")


def test_the_transaction_type_defaults_from_the_sign(alice_api, linked):
    write(alice_api, linked, [txn("in", amount="10.00"), txn("out", amount="-10.00")])
    types = dict(BankTransaction.objects.values_list("transaction_id", "transaction_type"))
    assert types == {"in": "Credit", "out": "Debit"}


def test_a_sign_that_contradicts_the_type_is_a_warning_and_is_stored(alice_api, linked):
    response = write(alice_api, linked, [txn("odd", amount="25.00", transactionType="Debit")])
    assert response.json()["status"] == "Success"
    assert warnings_of(response) == [("odd", "signMismatch")]
    assert BankTransaction.objects.get(transaction_id="odd").transaction_type == "Debit"


def test_unsupported_and_unknown_fields_are_ignored_with_a_warning(alice_api, linked):
    item = txn("w", counterparty="ACME", reference="INV-1", reconciled=True, colour="blue")
    response = write(alice_api, linked, [item])
    assert response.json()["status"] == "Success"
    assert warnings_of(response) == [
        ("w", "ignoredField"),
        ("w", "ignoredField"),
        ("w", "ignoredField"),
        ("w", "unknownField"),
    ]


def test_descriptions_are_trimmed_and_may_have_1000_characters(alice_api, linked):
    response = write(alice_api, linked, [txn("long", description="  " + "é" * 1000 + "  ")])
    assert response.json()["status"] == "Success"
    assert BankTransaction.objects.get(transaction_id="long").description == "é" * 1000


# The date window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "day", "ok"),
    [
        # 22:00 in Toronto on the 25th, already the 26th in UTC.
        (dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC), dt.date(2026, 11, 25), True),
        (dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC), dt.date(2026, 11, 26), False),
        # 00:30 in Toronto on the 26th.
        (dt.datetime(2026, 11, 26, 5, 30, tzinfo=dt.UTC), dt.date(2026, 11, 26), True),
        (dt.datetime(2026, 11, 26, 5, 30, tzinfo=dt.UTC), dt.date(2026, 11, 27), False),
    ],
)
def test_today_is_the_deployments_local_date_near_midnight_utc(
    alice_api, linked, frozen_noon, utc, day, ok
):
    frozen_noon.move_to(utc)
    response = write(alice_api, linked, [txn("t", day)])
    if ok:
        assert response.json()["status"] == "Success", response.json()
    else:
        assert errors_of(response) == [("t", "futureDate")]
        assert "in the future" in response.json()["validation"]["errors"][0]["message"]
        assert BankTransaction.objects.count() == 0


def test_the_feed_start_date_itself_is_accepted_and_the_day_before_is_not(alice_api, alice):
    link(alice.checking, TODAY - dt.timedelta(days=3))
    before = write(alice_api, alice, [txn("early", TODAY - dt.timedelta(days=4))])
    assert before.json()["status"] == "Failed"
    assert errors_of(before) == [("early", "beforeFeedStartDate")]
    exactly = write(alice_api, alice, [txn("first", TODAY - dt.timedelta(days=3))])
    assert exactly.json()["status"] == "Success"
    assert stored_ids(alice.checking) == ["first"]


def test_history_is_limited_to_seven_days_even_for_an_older_feed(alice_api, alice, frozen_noon):
    # Linked long ago: the feed start date is now 20 days back, but QBO takes 7 days at most.
    frozen_noon.move_to(NOON - dt.timedelta(days=13))
    link(alice.checking, TODAY - dt.timedelta(days=20))
    frozen_noon.move_to(NOON)
    old = write(alice_api, alice, [txn("old", TODAY - dt.timedelta(days=8))])
    assert errors_of(old) == [("old", "historyWindow")]
    edge = write(alice_api, alice, [txn("edge", TODAY - dt.timedelta(days=7))])
    assert edge.json()["status"] == "Success"


# Order ------------------------------------------------------------------------------------------


def test_transactions_must_be_in_ascending_order_within_a_request(alice_api, linked):
    items = [txn("b", TODAY), txn("a", TODAY - dt.timedelta(days=1)), txn("c", TODAY)]
    response = write(alice_api, linked, items)
    assert response.json()["status"] == "Failed"
    assert errors_of(response) == [("a", "chronologicalOrder")]
    assert BankTransaction.objects.count() == 0


def test_a_write_cannot_go_back_before_the_newest_stored_date_but_the_same_day_is_fine(
    alice_api, linked
):
    assert (
        write(alice_api, linked, [txn("d2", TODAY - dt.timedelta(days=2))]).json()["status"]
        == "Success"
    )
    back = write(alice_api, linked, [txn("d3", TODAY - dt.timedelta(days=3))])
    assert errors_of(back) == [("d3", "olderThanStored")]
    same = write(alice_api, linked, [txn("d2b", TODAY - dt.timedelta(days=2)), txn("d0")])
    assert same.json()["status"] == "Success"
    assert stored_ids(linked.checking) == ["d2", "d2b", "d0"]


def test_the_order_is_checked_per_account(alice_api, linked):
    link(linked.card, TODAY - dt.timedelta(days=7))
    write(alice_api, linked, [txn("c1", TODAY)], account_id="alice-visa")
    response = write(alice_api, linked, [txn("k1", TODAY - dt.timedelta(days=5))])
    assert response.json()["status"] == "Success"


# Identity and retries ---------------------------------------------------------------------------


def test_a_retried_request_with_the_same_content_is_skipped_with_warnings(alice_api, linked):
    items = [txn("r-1", TODAY - dt.timedelta(days=1)), txn("r-2")]
    first = write(alice_api, linked, items)
    retry = write(alice_api, linked, items)
    assert retry.json()["status"] == "Success"
    assert retry.json()["transactionCount"] == 0
    assert warnings_of(retry) == [("r-1", "alreadyWritten"), ("r-2", "alreadyWritten")]
    assert retry.json()["pushOperationKey"] != first.json()["pushOperationKey"]
    assert stored_ids(linked.checking) == ["r-1", "r-2"]


def test_a_retry_can_mix_written_and_new_transactions(alice_api, linked):
    write(alice_api, linked, [txn("m-1", TODAY - dt.timedelta(days=1))])
    response = write(alice_api, linked, [txn("m-1", TODAY - dt.timedelta(days=1)), txn("m-2")])
    assert response.json()["status"] == "Success"
    assert response.json()["transactionCount"] == 1
    assert stored_ids(linked.checking) == ["m-1", "m-2"]


def test_an_id_already_written_with_different_content_is_an_error(alice_api, linked):
    write(alice_api, linked, [txn("c-1", amount="-10.00")])
    response = write(alice_api, linked, [txn("c-1", amount="-10.01"), txn("c-2")])
    assert response.json()["status"] == "Failed"
    assert errors_of(response) == [("c-1", "idConflict")]
    assert "cannot change" in response.json()["errorMessage"]
    assert stored_ids(linked.checking) == ["c-1"]
    assert BankTransaction.objects.get().amount == Decimal("-10.00")


def test_the_same_amount_written_differently_is_the_same_content(alice_api, linked):
    write(alice_api, linked, [txn("s-1", amount="-10.5")])
    response = write(alice_api, linked, [txn("s-1", amount=-10.50)])
    assert warnings_of(response) == [("s-1", "alreadyWritten")]


def test_a_repeated_id_within_a_request_is_an_error(alice_api, linked):
    response = write(alice_api, linked, [txn("dup"), txn("dup", amount="-1.00")])
    assert errors_of(response) == [("dup", "duplicateId")]
    assert BankTransaction.objects.count() == 0


def test_the_same_id_on_two_accounts_is_two_transactions(alice_api, linked):
    link(linked.card, TODAY - dt.timedelta(days=7))
    write(alice_api, linked, [txn("same")])
    response = write(alice_api, linked, [txn("same")], account_id="alice-visa")
    assert response.json()["status"] == "Success"
    assert BankTransaction.objects.filter(transaction_id="same").count() == 2


# Size and shape ---------------------------------------------------------------------------------


def test_1000_transactions_are_accepted_and_1001_are_not(alice_api, linked):
    batch = [txn(f"n-{i:04}") for i in range(1001)]
    too_many = write(alice_api, linked, batch)
    assert too_many.status_code == 200
    assert too_many.json()["status"] == "Failed"
    assert errors_of(too_many) == [("transactions", "transactionCount")]
    assert "1001" in too_many.json()["validation"]["errors"][0]["message"]
    assert BankTransaction.objects.count() == 0
    response = write(alice_api, linked, batch[:1000])
    assert response.json()["status"] == "Success"
    assert response.json()["transactionCount"] == 1000
    assert BankTransaction.objects.count() == 1000


def test_an_empty_or_missing_transactions_array_fails(alice_api, linked):
    assert errors_of(write(alice_api, linked, [])) == [("transactions", "transactionCount")]
    body = {"accountId": "alice-chk"}
    response = alice_api.post(path(linked.company, linked.connection), body)
    assert errors_of(response) == [("transactions", "transactionsRequired")]


def test_the_body_account_id_must_equal_the_paths(alice_api, linked):
    body = {"accountId": "alice-visa", "transactions": [txn("a")]}
    response = alice_api.post(path(linked.company, linked.connection), body)
    assert errors_of(response) == [("accountId", "accountIdRequired")]
    response = alice_api.post(path(linked.company, linked.connection), {"transactions": [txn("a")]})
    assert errors_of(response) == [("accountId", "accountIdRequired")]
    assert BankTransaction.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "validator"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "twelve"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 1001}, "description"),
        ({"description": 12}, "description"),
        ({"description": "nul\x00byte"}, "description"),
        ({"clearedOnDate": "25/11/2026"}, "clearedOnDate"),
        ({"clearedOnDate": "2026-02-30"}, "clearedOnDate"),
        ({"clearedOnDate": None}, "clearedOnDate"),
        ({"transactionType": "Fee"}, "transactionType"),
        ({"balance": "lots"}, "balance"),
        ({"balance": "1.001"}, "balance"),
    ],
)
def test_each_invalid_field_is_reported_and_nothing_is_stored(alice_api, linked, change, validator):
    good = txn("ok-1")
    bad = txn("bad-1") | change
    response = write(alice_api, linked, [good, bad])
    assert response.status_code == 200
    operation = response.json()
    assert operation["status"] == "Failed" and operation["statusCode"] == 400
    assert errors_of(response) == [("bad-1", validator)]
    assert operation["transactionCount"] == 0
    assert operation["errorMessage"].startswith("1 problem found; no transaction was stored.")
    assert BankTransaction.objects.count() == 0


@pytest.mark.parametrize("bad_id", ["", "x" * 101, 42, None, "nul\x00"])
def test_an_invalid_transaction_id_is_reported_by_position(alice_api, linked, bad_id):
    response = write(alice_api, linked, [txn("fine"), txn("ignored") | {"id": bad_id}])
    assert errors_of(response) == [("transactions[1]", "transactionId")]


def test_an_id_of_100_characters_is_fine(alice_api, linked):
    assert write(alice_api, linked, [txn("i" * 100)]).json()["status"] == "Success"


def test_every_problem_is_its_own_item(alice_api, linked):
    bad = {"id": "many", "amount": 0, "description": "", "clearedOnDate": "2026-12-01"}
    response = write(alice_api, linked, [bad, "not an object"])
    assert errors_of(response) == [
        ("many", "amount"),
        ("many", "description"),
        ("transactions[1]", "transactionObject"),
        ("many", "futureDate"),
    ]
    for item in response.json()["validation"]["errors"]:
        assert item["message"].endswith(".") and len(item["message"]) > 20


# Account state and availability -----------------------------------------------------------------


def test_writes_to_an_account_not_yet_connected_fail(alice_api, alice):
    response = write(alice_api, alice, [txn("p")])
    assert response.json()["status"] == "Failed"
    assert errors_of(response) == [("accountId", "accountNotConnected")]
    assert "must link it in QuickBooks Online" in response.json()["errorMessage"]


def test_writes_fail_at_once_after_the_feed_was_disconnected_in_qbo(alice_api, linked):
    assert write(alice_api, linked, [txn("before")]).json()["status"] == "Success"
    feed_rules.disable_feed(linked.feed, actor=Actor.qbo())
    response = write(alice_api, linked, [txn("after")])
    assert response.json()["status"] == "Failed"
    assert errors_of(response) == [("accountId", "feedDisconnected")]
    assert "disconnected in QuickBooks" in response.json()["errorMessage"]
    assert stored_ids(linked.checking) == ["before"]


def test_writes_fail_once_the_connection_is_unlinked(alice_api, linked):
    response = alice_api.patch(
        f"/companies/{linked.company.pk}/connections/{linked.connection.pk}",
        {"status": "Unlinked"},
    )
    assert response.status_code == 200
    response = write(alice_api, linked, [txn("u")])
    assert errors_of(response) == [("accountId", "accountNotConnected")]
    assert "Unlinked" in response.json()["errorMessage"]


def test_writes_are_refused_with_403_while_the_integration_is_off(alice_api, linked):
    OrganizationSettings.objects.filter(pk=1).update(integration_enabled=False)
    response = write(alice_api, linked, [txn("off")])
    assert response.status_code == 403
    assert "account manager" in response.json()["error"]
    assert PushOperation.objects.count() == 0


def test_an_unknown_account_is_404_and_writes_nothing(alice_api, linked):
    response = write(alice_api, linked, [txn("x")], account_id="nope")
    assert response.status_code == 404
    assert response.json()["statusCode"] == 404
    assert PushOperation.objects.count() == 0


def test_bob_cannot_write_to_alices_account(bob_api, linked):
    response = write(bob_api, linked, [txn("intruder")])
    assert response.status_code == 404
    assert PushOperation.objects.count() == BankTransaction.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"", "application/json", 400),
        (b'{"amount": NaN}', "application/json", 400),
        (b'{"accountId": "alice-chk"}', "text/plain", 415),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_and_writes_nothing(
    alice_api, linked, raw, content_type, status
):
    response = alice_api.post(
        path(linked.company, linked.connection), raw=raw, content_type=content_type
    )
    assert response.status_code == status
    assert response.json()["statusCode"] == status
    assert PushOperation.objects.count() == 0


def test_an_oversized_body_is_refused_with_413(alice_api, linked, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = write(alice_api, linked, [txn(f"big-{i}") for i in range(50)])
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert PushOperation.objects.count() == 0


def test_the_default_body_limit_fits_1000_long_transactions(settings):
    one = txn("x" * 100, description="é" * 1000, counterparty="y" * 100)
    size = len(str([one] * 1000).encode())
    assert size < settings.API_MAX_BODY_BYTES


# Idempotency-Key --------------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_return_the_first_push_operation(alice_api, linked):
    first = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "key-1"})
    again = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "key-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert PushOperation.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_with_422(alice_api, linked):
    write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "key-1"})
    response = write(alice_api, linked, [txn("i-2")], **{"Idempotency-Key": "key-1"})
    assert response.status_code == 422
    assert response.json()["validation"]["errors"][0]["itemId"] == "Idempotency-Key"
    assert stored_ids(linked.checking) == ["i-1"]


def test_the_same_key_while_the_first_request_runs_gets_409_with_retry_after(alice_api, linked):
    write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "busy"})
    # As if the first request were still being processed.
    IdempotencyKey.objects.filter(key="busy").update(
        completed=None, push_operation=None, lease_expires=timezone.now() + dt.timedelta(seconds=30)
    )
    response = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert int(response.headers["Retry-After"]) >= 1


def test_a_key_whose_first_request_died_can_be_retried_after_its_lease(
    alice_api, linked, frozen_noon
):
    write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "crashed"})
    IdempotencyKey.objects.filter(key="crashed").update(
        completed=None, push_operation=None, lease_expires=timezone.now() + dt.timedelta(seconds=60)
    )
    BankTransaction.objects.all().delete()
    frozen_noon.shift(dt.timedelta(seconds=61))
    response = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "crashed"})
    assert response.json()["status"] == "Success"
    assert stored_ids(linked.checking) == ["i-1"]


def test_a_key_is_forgotten_after_24_hours(alice_api, linked, frozen_noon):
    first = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "daily"})
    frozen_noon.shift(dt.timedelta(hours=24, seconds=1))
    later = write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "daily"})
    assert later.json()["pushOperationKey"] != first.json()["pushOperationKey"]
    assert warnings_of(later) == [("i-1", "alreadyWritten")]


def test_keys_belong_to_one_api_client(client, alice_api, bob_api, linked, bob):
    link(bob.chequing, TODAY - dt.timedelta(days=7))
    write(alice_api, linked, [txn("i-1")], **{"Idempotency-Key": "shared"})
    body = {"accountId": "bob-chq", "transactions": [txn("b-1")]}
    response = bob_api.post(
        path(bob.company, bob.connection, "bob-chq"), body, **{"Idempotency-Key": "shared"}
    )
    assert response.json()["status"] == "Success"


def test_a_failed_validation_is_replayed_too(alice_api, linked):
    first = write(alice_api, linked, [txn("f", amount=0)], **{"Idempotency-Key": "f"})
    again = write(alice_api, linked, [txn("f", amount=0)], **{"Idempotency-Key": "f"})
    assert first.json()["status"] == "Failed"
    assert again.json()["pushOperationKey"] == first.json()["pushOperationKey"]


def test_an_idempotency_key_over_128_characters_is_refused(alice_api, linked):
    response = write(alice_api, linked, [txn("k")], **{"Idempotency-Key": "k" * 129})
    assert response.status_code == 400
    assert response.json()["validation"]["errors"][0]["itemId"] == "Idempotency-Key"
    assert PushOperation.objects.count() == 0
    ok = write(alice_api, linked, [txn("k")], **{"Idempotency-Key": "k" * 128})
    assert ok.json()["status"] == "Success"


# Listing ----------------------------------------------------------------------------------------


def test_the_push_operations_list_is_paged_newest_first(alice_api, linked, frozen_noon):
    keys = []
    for i in range(3):
        frozen_noon.shift(dt.timedelta(seconds=1))
        keys.append(write(alice_api, linked, [txn(f"p-{i}")]).json()["pushOperationKey"])
    base = f"/companies/{linked.company.pk}/push"
    first = alice_api.get(base, {"page": 1, "pageSize": 2}).json()
    second = alice_api.get(base, {"page": 2, "pageSize": 2}).json()
    beyond = alice_api.get(base, {"page": 3, "pageSize": 2}).json()
    assert [o["pushOperationKey"] for o in first["results"]] == keys[::-1][:2]
    assert [o["pushOperationKey"] for o in second["results"]] == keys[:1]
    assert beyond["results"] == [] and beyond["totalResults"] == 3
    assert first["pageNumber"] == 1 and first["pageSize"] == 2


def test_the_transactions_list_shows_the_delivery_state(alice_api, linked):
    write(alice_api, linked, [txn("l-1"), txn("l-2")])
    BankTransaction.objects.filter(transaction_id="l-1").update(
        delivery_state="delivered", delivered=timezone.now()
    )
    base = (
        f"/companies/{linked.company.pk}/connections/{linked.connection.pk}"
        "/connectionInfo/bankFeedAccounts/alice-chk/bankTransactions"
    )
    listing = alice_api.get(base).json()
    assert [(t["id"], t["deliveryState"]) for t in listing["results"]] == [
        ("l-1", "delivered"),
        ("l-2", "pending"),
    ]
    assert listing["results"][0]["deliveredOnUtc"] is not None
    pending = alice_api.get(base, {"deliveryState": "pending"}).json()
    assert [t["id"] for t in pending["results"]] == ["l-2"]
    assert alice_api.get(base, {"deliveryState": "lost"}).status_code == 400


# Cost -------------------------------------------------------------------------------------------


def count_queries(callable_) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        callable_()
    return len(queries)


def test_a_1000_transaction_write_costs_no_more_queries_than_a_small_one(
    alice_api, linked, django_assert_max_num_queries
):
    small = count_queries(lambda: write(alice_api, linked, [txn(f"s-{i}") for i in range(10)]))
    # The bulk insert is split in as few statements as the database allows (2 on PostgreSQL,
    # 999 bound variables per statement on SQLite).
    fields = [f for f in BankTransaction._meta.concrete_fields if not f.primary_key]
    per_statement = min(500, db_connection.ops.bulk_batch_size(fields, [None] * 1000))
    with django_assert_max_num_queries(small + math.ceil(1000 / per_statement) - 1):
        response = write(alice_api, linked, [txn(f"b-{i}") for i in range(1000)])
    assert response.json()["transactionCount"] == 1000
    assert small <= 21  # including the savepoints of the test's own transaction


def test_a_retry_of_1000_transactions_reads_them_in_one_query(alice_api, linked):
    batch = [txn(f"b-{i}") for i in range(1000)]
    write(alice_api, linked, batch)
    with CaptureQueriesContext(db_connection) as queries:
        response = write(alice_api, linked, batch)
    assert response.json()["transactionCount"] == 0
    reads = [q for q in queries if "banktransaction" in q["sql"].lower()]
    assert len(reads) == 2  # the ids already stored, and the newest stored date


# Concurrency ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writes_of_the_same_transactions_store_them_once(frozen_noon):
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent sessions need a server database")
    from django.test import Client

    from tests.makers import make_account, make_company, make_connection

    OrganizationSettings.objects.update_or_create(pk=1, defaults={"integration_enabled": True})
    company = make_company("Race Inc", "US", client="racer")
    connection = make_connection(company)
    account = make_account(connection, "race-chk")
    link(account, TODAY - dt.timedelta(days=7))
    key = issue_key("racer")
    items = [txn(f"r-{i}") for i in range(200)]
    results = []

    def send():
        api = Api(Client(), key)
        results.append(
            api.post(
                path(company, connection, "race-chk"),
                {"accountId": "race-chk", "transactions": items},
            )
        )
        db_connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200] * 4
    assert sorted(r.json()["transactionCount"] for r in results) == [0, 0, 0, 200]
    assert BankTransaction.objects.filter(source_account=account).count() == 200


def test_a_nul_character_in_the_path_is_a_404_not_a_crash(alice_api, linked):
    response = write(alice_api, linked, [txn("x")], account_id="alice%00chk")
    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


def test_client_text_echoed_in_a_report_is_stored_safely(alice_api, linked):
    # A NUL in a field name comes back in a warning; PostgreSQL's jsonb cannot hold a NUL.
    item = txn("echo") | {"odd\u0000key": 1}
    response = write(alice_api, linked, [item, txn("echo") | {"id": "dup\u0000"}])
    assert response.status_code == 200
    assert response.json()["status"] == "Failed"
    warning = response.json()["validation"]["warnings"][0]["message"]
    assert warning.startswith("odd\\x00key is not a known transaction field")


def test_a_body_with_an_unpaired_surrogate_is_refused_with_400(alice_api, linked):
    raw = b'{"accountId": "alice-chk", "transactions": [{"id": "s", "description": "\\ud800"}]}'
    response = alice_api.post(path(linked.company, linked.connection), raw=raw)
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]
    company = alice_api.post("/companies", raw=b'{"name": "A\\udfffB", "country": "US"}')
    assert company.status_code == 400
    assert PushOperation.objects.count() == 0


def test_an_idempotency_key_must_be_printable_ascii(alice_api, linked):
    response = write(alice_api, linked, [txn("k")], **{"Idempotency-Key": "clé"})
    assert response.status_code == 400
    assert PushOperation.objects.count() == 0


# Numbers at the edge of Decimal (issue 16) ----------------------------------------------------


def raw_write(api: Api, people, amount: str, balance: str = "1", ignored: str = "1", **headers):
    body = (
        f'{{"accountId": "alice-chk", "ignored": {ignored}, "transactions": [{{"id": "edge", '
        f'"clearedOnDate": "2026-11-25", "amount": {amount}, "balance": {balance}, '
        '"description": "x"}]}'
    )
    return api.send("post", path(people.company, people.connection), raw=body.encode(), **headers)


@pytest.mark.parametrize(
    ("amount", "balance", "problem"),
    [
        ("1e999999999", "1", "amount is too large"),
        ("-1e1000000", "1", "amount is too large"),
        ("1e-999999999", "1", "amount has more than 2 decimal places"),
        ("-1e-999999999", "1", "amount has more than 2 decimal places"),
        ("1", "1e999999999", "balance is too large"),
        ("1", "1e-999999999", "balance has more than 2 decimal places"),
        ("1E+13", "1", "too large"),
        ("0.001", "1", "more than 2 decimal places"),
    ],
)
@pytest.mark.parametrize("key", [None, "edge-key"])
def test_numbers_at_the_edge_of_decimal_fail_the_write_and_store_nothing(
    alice_api, linked, amount, balance, problem, key
):
    headers = {"Idempotency-Key": key} if key else {}
    response = raw_write(alice_api, linked, amount, balance, **headers)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "Failed"
    assert problem in response.json()["validation"]["errors"][0]["message"]
    assert BankTransaction.objects.count() == 0


@pytest.mark.parametrize("ignored", ["1e999999999", "1e-999999999", "-0.0e-50"])
def test_an_ignored_field_with_an_extreme_number_does_not_upset_the_fingerprint(
    alice_api, linked, ignored
):
    first = raw_write(alice_api, linked, "-1", ignored=ignored, **{"Idempotency-Key": "ig"})
    again = raw_write(alice_api, linked, "-1", ignored=ignored, **{"Idempotency-Key": "ig"})
    assert first.json()["status"] == "Success"
    assert again.json() == first.json()


def test_a_numerically_equal_body_replays_the_first_push_operation(alice_api, linked):
    first = raw_write(alice_api, linked, "-1", **{"Idempotency-Key": "same-value"})
    again = raw_write(alice_api, linked, "-1.00", "1.0", **{"Idempotency-Key": "same-value"})
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = raw_write(alice_api, linked, "-1.01", **{"Idempotency-Key": "same-value"})
    assert other.status_code == 422
