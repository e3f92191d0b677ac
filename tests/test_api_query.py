"""The `query` and `orderBy` list parameters: the parser on its own, then through the endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db.models import Q
from django.utils import timezone

from accounts.models import Company
from feeds.api.query import (
    COMPANY_FIELDS,
    MAX_LENGTH,
    MAX_TERMS,
    PUSH_FIELDS,
    TRANSACTION_FIELDS,
    QueryError,
    parse,
)
from feeds.models import PushStatus
from tests.makers import make_company, make_connection, make_push, make_transaction

T = TRANSACTION_FIELDS
DAY = dt.date(2026, 11, 25)


# The parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount=1.5", Q(amount__exact=Decimal("1.5"))),
        ("amount!=1.5", ~Q(amount=Decimal("1.5"))),
        ("amount>-2", Q(amount__gt=Decimal("-2"))),
        ("amount<2", Q(amount__lt=Decimal("2"))),
        ("amount>=2", Q(amount__gte=Decimal("2"))),
        ("amount<=2", Q(amount__lte=Decimal("2"))),
        ("description~bean", Q(description__icontains="bean")),
        ("clearedOnDate>=2026-11-25", Q(cleared_on_date__gte=DAY)),
        ("deliveryState=pending", Q(delivery_state__exact="pending")),
    ],
)
def test_each_operator_becomes_its_lookup(text, expected):
    assert parse(text, T) == expected


def test_and_binds_tighter_than_or():
    a, b, c = Q(description__exact="a"), Q(description__exact="b"), Q(description__exact="c")
    assert parse("description=a || description=b && description=c", T) == a | (b & c)
    assert parse("description=a && description=b || description=c", T) == (a & b) | c


def test_curly_braces_group_as_the_hosted_service_documents():
    a, b, c = Q(description__exact="a"), Q(description__exact="b"), Q(description__exact="c")
    assert parse("{description=a || description=b} && description=c", T) == (a | b) & c


def test_spaces_around_operators_and_values_are_ignored():
    assert parse("  amount >  100  &&  description = Coffee beans ", T) == Q(
        amount__gt=Decimal("100")
    ) & Q(description__exact="Coffee beans")


@pytest.mark.parametrize("quoted", ['"a && b || {c}"', "'a && b || {c}'"])
def test_a_quoted_value_keeps_operators_and_spaces(quoted):
    assert parse(f"description={quoted}", T) == Q(description__exact="a && b || {c}")


def test_timestamps_are_iso_8601_and_read_as_utc_without_an_offset():
    noon = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    assert parse("createdOnUtc>2026-11-25T12:00:00Z", T) == Q(created__gt=noon)
    assert parse("createdOnUtc>2026-11-25T07:00:00-05:00", T) == Q(created__gt=noon)
    assert parse("createdOnUtc>2026-11-25T12:00:00", T) == Q(created__gt=noon)
    midnight = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert parse("createdOnUtc<2026-11-25", T) == Q(created__lt=midnight)


def test_ids_are_parsed_as_uuids():
    key = uuid.uuid4()
    assert parse(f"pushOperationKey={key}", T) == Q(push_operation_id__exact=key)


def test_data_type_is_a_constant_true_for_every_push_operation():
    assert parse("dataType=bankTransactions", PUSH_FIELDS) == Q()
    assert parse("dataType!=bankTransactions", PUSH_FIELDS) == Q(pk__in=[])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("colour=red", "unknown field 'colour'"),
        ("amount=ten", "amount must be a number"),
        ("amount=1.234", "amount must be a number"),
        ("clearedOnDate=25/11/2026", "clearedOnDate must be a date YYYY-MM-DD"),
        ("clearedOnDate=20261125", "clearedOnDate must be a date YYYY-MM-DD"),
        ("createdOnUtc>yesterday", "createdOnUtc must be an ISO 8601 timestamp"),
        ("pushOperationKey=42", "pushOperationKey must be an id"),
        ("deliveryState=lost", "deliveryState must be one of pending, delivered"),
        ("amount~1", "works on strings only"),
        ("description>a", "works on dates and numbers only"),
        ("deliveryState>pending", "works on dates and numbers only"),
        ("description=", "needs a value"),
        ("description='unbalanced", "never closed"),
        ('description="unbalanced', "never closed"),
        ("{description=a", "no matching"),
        ("description=a}", "unexpected"),
        ("description=a &&&& amount=1", "expected a term"),
        ("&&", "expected a term"),
        ("description=a &&", "expected a term"),
        ("amount", "expected a term"),
        ("=1", "expected a term"),
        ("", "expected a term"),
        ("description=a\x00b", "control character"),
        ("créé=1", "expected a term"),
        ("{" * 20 + "amount=1" + "}" * 20, "nest at most"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters"),
        (" || ".join(["amount=1"] * (MAX_TERMS + 1)), f"at most {MAX_TERMS} terms"),
        (" || ".join(["amount=1"] * 10_000), "characters"),
    ],
)
def test_it_says_what_is_wrong_with_a_query(text, says):
    with pytest.raises(QueryError, match=None) as raised:
        parse(text, T)
    assert says in str(raised.value)


def test_unicode_values_are_fine_in_strings():
    assert parse("name~Chèques", COMPANY_FIELDS) == Q(name__icontains="Chèques")


# Through the endpoints ----------------------------------------------------------------------


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_companies_are_filtered_by_name_and_date(alice_api, alice):
    old = make_company("Zeta Tools", client="alice")
    Company.objects.filter(pk=old.pk).update(created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert _ids(alice_api.get("/companies", {"query": "name~BAKERY"})) == [str(alice.company.pk)]
    assert _ids(alice_api.get("/companies", {"query": "created<2021-01-01"})) == [str(old.pk)]
    both = "name='Zeta Tools' || {created>2021-01-01 && country=US}"
    assert set(_ids(alice_api.get("/companies", {"query": both}))) == {
        str(old.pk),
        str(alice.company.pk),
    }
    assert _ids(alice_api.get("/companies", {"query": "name!='Zeta Tools'"})) == [
        str(alice.company.pk)
    ]


def test_contains_ignores_case_and_treats_like_wildcards_as_text(alice_api, alice):
    make_company("100% Organic_Farm", client="alice")
    assert len(_ids(alice_api.get("/companies", {"query": "name~organic"}))) == 1
    assert len(_ids(alice_api.get("/companies", {"query": "name~%"}))) == 1
    assert len(_ids(alice_api.get("/companies", {"query": "name~g_n"}))) == 0
    assert len(_ids(alice_api.get("/companies", {"query": "name~C_F"}))) == 1


def test_companies_are_ordered_by_order_by_in_either_direction(alice_api, alice):
    make_company("Aardvark Ltd", client="alice")
    make_company("Zebra Ltd", client="alice")
    names = [
        row["name"] for row in alice_api.get("/companies", {"orderBy": "name"}).json()["results"]
    ]
    assert names == ["Aardvark Ltd", "Alice Bakery", "Zebra Ltd"]
    down = alice_api.get("/companies", {"orderBy": "-name"}).json()["results"]
    assert [row["name"] for row in down] == names[::-1]


def test_equal_values_are_ordered_by_id_so_pages_are_stable(alice_api, alice):
    for _ in range(4):
        make_company("Same Name", client="alice")
    ordered = sorted(
        str(c.pk) for c in Company.objects.filter(client__name="alice", name="Same Name")
    )
    pages = [
        _ids(
            alice_api.get(
                "/companies",
                {"query": "name='Same Name'", "orderBy": "name", "page": page, "pageSize": 2},
            )
        )
        for page in (1, 2)
    ]
    assert pages[0] + pages[1] == ordered


def test_alice_never_sees_bobs_companies_whatever_the_query(alice_api, alice, bob):
    for text in [
        f"id={bob.company.pk}",
        "name~Bob || name!=x",
        "{country=CA || country=US} || created>2000-01-01",
    ]:
        assert str(bob.company.pk) not in _ids(alice_api.get("/companies", {"query": text}))


def test_connections_are_filtered_by_status(alice_api, alice):
    linked = make_connection(alice.company, status="Linked")
    path = f"/companies/{alice.company.pk}/connections"
    assert _ids(alice_api.get(path, {"query": "status=Linked"})) == [str(linked.pk)]
    assert _ids(alice_api.get(path, {"query": "status!=Linked"})) == [str(alice.connection.pk)]
    assert _ids(alice_api.get(path, {"orderBy": "created"}))[0] == str(alice.connection.pk)


def test_push_operations_are_filtered_by_status_and_account(alice_api, alice, bob):
    ok = make_push(alice.checking, status=PushStatus.SUCCESS)
    failed = make_push(alice.card, status=PushStatus.FAILED)
    make_push(bob.chequing, status=PushStatus.FAILED)
    path = f"/companies/{alice.company.pk}/push"

    def keys(params):
        response = alice_api.get(path, params)
        assert response.status_code == 200, response.json()
        return [row["pushOperationKey"] for row in response.json()["results"]]

    assert keys({"query": "status=Failed"}) == [str(failed.key)]
    assert keys({"query": "accountId=alice-chk && dataType=bankTransactions"}) == [str(ok.key)]
    assert keys({"query": "completedOnUtc>2000-01-01T00:00:00Z"}) == []
    assert keys({"query": "requestedOnUtc>2000-01-01", "orderBy": "requestedOnUtc"}) == [
        str(ok.key),
        str(failed.key),
    ]


def test_transactions_are_filtered_by_amount_date_and_delivery_state(alice_api, alice):
    today = timezone.localdate()
    push = make_push(alice.checking)
    make_transaction(alice.checking, "t-1", push, amount=Decimal("-12.50"), cleared_on_date=today)
    make_transaction(alice.checking, "t-2", push, amount=Decimal("250.00"), cleared_on_date=today)
    make_transaction(
        alice.checking,
        "t-3",
        push,
        amount=Decimal("5.00"),
        delivery_state="delivered",
        delivered=timezone.now(),
    )
    path = (
        f"/companies/{alice.company.pk}/connections/{alice.connection.pk}"
        f"/connectionInfo/bankFeedAccounts/{alice.checking.account_id}/bankTransactions"
    )
    assert _ids(alice_api.get(path, {"query": "amount>0", "orderBy": "-amount"})) == ["t-2", "t-3"]
    assert _ids(alice_api.get(path, {"query": "amount<=-12.5"})) == ["t-1"]
    assert _ids(alice_api.get(path, {"query": "deliveryState=delivered || amount<0"})) == [
        "t-1",
        "t-3",
    ]
    assert _ids(
        alice_api.get(path, {"query": f"clearedOnDate={today.isoformat()} && amount!=250"})
    ) == ["t-1", "t-3"]
    assert _ids(alice_api.get(path, {"deliveryState": "pending", "query": "amount>0"})) == ["t-2"]


@pytest.mark.parametrize(
    ("params", "item", "says"),
    [
        ({"query": "colour=red"}, "query", "unknown field 'colour'"),
        ({"query": "created>soon"}, "query", "created must be an ISO 8601 timestamp"),
        ({"query": "name='open"}, "query", "never closed"),
        ({"query": "name=a\x00"}, "query", "control character"),
        ({"query": "x" * (MAX_LENGTH + 1)}, "query", "at most"),
        ({"orderBy": "colour"}, "orderBy", "cannot order by 'colour'"),
        ({"orderBy": "-"}, "orderBy", "cannot order by"),
    ],
)
def test_a_bad_query_or_order_is_a_400_naming_it_and_the_fields(
    alice_api, alice, params, item, says
):
    before = Company.objects.count()
    response = alice_api.get("/companies", params)
    assert response.status_code == 400
    body = response.json()
    assert [e["itemId"] for e in body["validation"]["errors"]] == [item]
    assert says in body["error"]
    if item == "orderBy" or "at most" not in says:
        assert "Fields: id (uuid), name (string)" in body["error"]
    assert Company.objects.count() == before


def test_the_document_declares_query_and_order_by_on_each_list(client):
    document = client.get("/api/v1/openapi.json").json()
    lists = [
        "/api/v1/companies",
        "/api/v1/companies/{companyId}/connections",
        "/api/v1/companies/{companyId}/push",
        "/api/v1/companies/{companyId}/connections/{connectionId}/connectionInfo"
        "/bankFeedAccounts/{accountId}/bankTransactions",
    ]
    for path in lists:
        params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert "&&" in params["query"]["description"], path
        assert "Fields:" in params["orderBy"]["description"], path
