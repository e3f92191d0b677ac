"""What a client of the hosted service relies on beyond the SDK journey (`tests/test_sdk.py`):
tags and their filter, replacing a company, whole-object updates, the v2 source-account body,
setting an account `disconnected`, and the company's `redirect` into the Link pages."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.audit import Actor
from accounts.models import AuditEvent, Company, OrganizationSettings
from feeds import connection_rules, link_urls
from feeds.models import BankTransaction, Connection, SourceAccount
from tests.makers import make_company, make_connection
from tests.test_api_resources import (
    accounts_path,
    assert_error,
    company_path,
    connection_path,
    link,
)


def tagged(alice, **tags: str) -> Company:
    company = make_company(f"Co {len(tags)} {sorted(tags.items())}", client="alice")
    company.tags = tags
    company.save()
    return company


@pytest.fixture
def tagged_companies(alice):
    alice.company.tags = {"region": "uk", "team": "invoice-finance"}
    alice.company.save()
    return {
        "alice": alice.company,
        "east": tagged(alice, region="us-east", team="lending"),
        "bare": tagged(alice),
    }


def names(response, companies) -> set[str]:
    assert response.status_code == 200, response.content
    ids = {row["id"] for row in response.json()["results"]}
    return {name for name, company in companies.items() if str(company.pk) in ids}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("region=uk", {"alice"}),
        ("region=uk && team=invoice-finance", {"alice"}),
        ("region=uk && team=lending", set()),
        ("region=uk || team=lending", {"alice", "east"}),
        ("region~US", {"east"}),
        # A company without the tag is not equal to it either.
        ("region!=uk", {"east", "bare"}),
        ("{region=uk || region=us-east} && team!=lending", {"alice"}),
        ("contains=x", set()),  # a tag key that is also a lookup name is just a key
    ],
)
def test_companies_are_filtered_by_tags(alice_api, tagged_companies, tags, expected):
    assert names(alice_api.get("/companies", {"tags": tags}), tagged_companies) == expected


@pytest.mark.parametrize("tags", ["region", "region>uk", "region=uk &&", "=uk", "{region=uk"])
def test_a_tags_filter_it_cannot_read_is_a_400_naming_tags(alice_api, tagged_companies, tags):
    assert_error(alice_api.get("/companies", {"tags": tags}), 400, item="tags")


def test_tags_are_stored_and_returned(alice_api):
    body = alice_api.post("/companies", {"name": "Carol", "country": "CA", "tags": {"a": "1"}})
    assert body.status_code == 200 and body.json()["tags"] == {"a": "1"}
    assert Company.objects.get(pk=body.json()["id"]).tags == {"a": "1"}


def test_replacing_a_company_empties_what_the_body_leaves_out_but_keeps_the_country(
    alice_api, alice
):
    alice.company.description, alice.company.tags = "Old", {"k": "v"}
    alice.company.save()
    response = alice_api.send("put", company_path(alice.company), {"name": "Alice Inc"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["tags"], body["country"]) == (
        "Alice Inc",
        "",
        {},
        "US",
    )
    alice.company.refresh_from_db()
    assert (alice.company.name, alice.company.description, alice.company.tags) == (
        "Alice Inc",
        "",
        {},
    )
    assert AuditEvent.objects.filter(action="company.updated", object_id=str(alice.company.pk))


def test_replacing_needs_a_name_and_changes_nothing_without_one(alice_api, alice):
    assert_error(alice_api.send("put", company_path(alice.company), {}), 400, item="name")
    assert_error(
        alice_api.send("put", company_path(alice.company), {"name": "X", "country": "FR"}),
        400,
        item="country",
    )
    alice.company.refresh_from_db()
    assert (alice.company.name, alice.company.country) == ("Alice Bakery", "US")


def test_another_clients_company_cannot_be_replaced(bob_api, alice):
    assert_error(bob_api.send("put", company_path(alice.company), {"name": "Mine"}), 404)
    alice.company.refresh_from_db()
    assert alice.company.name == "Alice Bakery"


def test_a_company_read_can_be_sent_back_whole_with_a_change(alice_api, alice):
    read = alice_api.get(company_path(alice.company)).json()
    response = alice_api.patch(company_path(alice.company), {**read, "name": "Alice Two"})
    assert response.status_code == 200, response.content
    alice.company.refresh_from_db()
    assert alice.company.name == "Alice Two"
    # The created timestamp in another spelling is the same value.
    same_moment = read["created"].replace("Z", "+00:00")
    assert alice_api.patch(company_path(alice.company), {"created": same_moment}).status_code == 200


def test_a_source_account_read_can_be_sent_back_whole_with_a_change(alice_api, alice):
    path = accounts_path(alice.connection) + "/alice-chk"
    read = alice_api.get(path).json()
    response = alice_api.patch(path, {**read, "accountName": "Renamed"})
    assert response.status_code == 200, response.content
    assert response.json()["accountName"] == "Renamed"
    assert_error(alice_api.patch(path, {**read, "accountType": "savings"}), 400, "accountType")
    alice.checking.refresh_from_db()
    assert (alice.checking.account_name, alice.checking.account_type) == ("Renamed", "checking")


V2 = {
    "id": "v2-chk",
    "accountName": "Ops",
    "accountType": "checking",
    "accountNumber": "12345670",
    "routingInfo": {"bankCode": "021001088", "type": "aba"},
    "currency": "USD",
    "balance": 99.99,
    "accountInfo": {
        "description": "Operating",
        "nickname": "Ops 1",
        "accountOpenDate": "2023-05-06",
        "availableBalance": 10,
    },
}


def test_the_v2_body_keeps_routing_and_account_info(alice_api, alice):
    created = alice_api.post(accounts_path(alice.connection), V2)
    assert created.status_code == 200, created.content
    read = alice_api.get(accounts_path(alice.connection) + "/v2-chk").json()
    assert read["routingInfo"] == {"bankCode": "021001088", "type": "aba"}
    assert read["accountInfo"] == {
        "description": "Operating",
        "nickname": "Ops 1",
        "accountOpenDate": "2023-05-06",
        "availableBalance": 10.0,
    }
    # An ABA routing number is the account's routing number too.
    assert read["routingNumber"] == "021001088"
    assert SourceAccount.objects.get(account_id="v2-chk").routing_number == "021001088"


@pytest.mark.parametrize(
    ("change", "item"),
    [
        ({"routingInfo": {"bankCode": "1", "type": "postcode"}}, "routingInfo.type"),
        ({"routingInfo": "021001088"}, "routingInfo"),
        ({"accountInfo": {"availableBalance": "1.234"}}, "accountInfo.availableBalance"),
        ({"accountInfo": {"accountOpenDate": "06/05/2023"}}, "accountInfo.accountOpenDate"),
    ],
)
def test_a_bad_v2_field_is_a_400_naming_it(alice_api, alice, change, item):
    assert_error(alice_api.post(accounts_path(alice.connection), {**V2, **change}), 400, item)
    assert not SourceAccount.objects.filter(account_id="v2-chk").exists()


def test_a_connected_account_can_be_set_disconnected_and_its_feed_stops(alice_api, alice):
    feed = link(alice.checking)
    path = accounts_path(alice.connection) + "/alice-chk"
    response = alice_api.patch(path, {"status": "disconnected"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "disconnected"
    feed.refresh_from_db()
    assert feed.ended is not None
    assert AuditEvent.objects.filter(action="sourceaccount.status", data__to="disconnected")
    written = alice_api.post(
        f"/companies/{alice.company.pk}/connections/{alice.connection.pk}"
        "/push/bankAccounts/alice-chk/bankTransactions",
        {
            "accountId": "alice-chk",
            "transactions": [
                {"id": "t-1", "date": "2026-11-30", "amount": 1, "description": "After"}
            ],
        },
    )
    assert written.json()["status"] == "Failed"
    assert not BankTransaction.objects.exists()
    # Again: nothing more to do.
    assert alice_api.patch(path, {"status": "disconnected"}).status_code == 200


def test_a_pending_account_cannot_be_set_disconnected(alice_api, alice):
    path = accounts_path(alice.connection) + "/alice-chk"
    assert_error(alice_api.patch(path, {"status": "disconnected"}), 400, item="status")
    alice.checking.refresh_from_db()
    assert alice.checking.status == "pending"


# The company's redirect ---------------------------------------------------------------------------


def follow_redirect(client, url: str):
    parts = urlsplit(url)
    return client.get(parts.path, parse_qs(parts.query))


def test_the_redirect_leads_to_the_current_connections_link_url(alice_api, alice, client):
    redirect = alice_api.get(company_path(alice.company)).json()["redirect"]
    response = follow_redirect(client, redirect)
    assert response.status_code == 302
    token = parse_qs(urlsplit(response["Location"]).query)["token"][0]
    assert link_urls.read_token(token) == alice.connection
    assert Connection.objects.filter(company=alice.company).count() == 1


def test_the_redirect_opens_a_connection_when_the_company_has_none_usable(alice_api, alice, client):
    connection_rules.delete(alice.connection, actor=Actor.system())
    redirect = alice_api.get(company_path(alice.company)).json()["redirect"]
    response = follow_redirect(client, redirect)
    assert response.status_code == 302
    opened = link_urls.read_token(parse_qs(urlsplit(response["Location"]).query)["token"][0])
    assert opened != alice.connection and opened.status == "PendingAuth"
    assert AuditEvent.objects.filter(action="connection.created", object_id=str(opened.pk))


def test_a_redirect_with_a_bad_token_opens_nothing(client, alice, enabled):
    response = client.get("/link/company", {"token": "forged"})
    assert response.status_code == 401
    assert Connection.objects.count() == 1


def test_the_redirect_says_not_available_while_the_integration_is_off(alice_api, alice, client):
    redirect = alice_api.get(company_path(alice.company)).json()["redirect"]
    OrganizationSettings.objects.filter(pk=1).update(integration_enabled=False)
    response = follow_redirect(client, redirect)
    assert response.status_code == 403
    assert Connection.objects.count() == 1


def test_the_redirect_stops_working_once_the_company_is_deleted(alice_api, alice, client):
    redirect = alice_api.get(company_path(alice.company)).json()["redirect"]
    assert alice_api.delete(company_path(alice.company)).status_code == 204
    assert follow_redirect(client, redirect).status_code == 401
    assert not Connection.objects.exists()


def test_balance_sent_back_unchanged_on_a_connected_account_is_fine(alice_api, alice):
    link(alice.checking)
    path = accounts_path(alice.connection) + "/alice-chk"
    read = alice_api.get(path).json()
    assert alice_api.patch(path, read).status_code == 200
    alice.checking.refresh_from_db()
    assert alice.checking.balance == Decimal("100.00")


def test_a_deleted_connection_is_not_where_a_new_connection_is_counted(alice_api, alice):
    second = make_connection(alice.company)
    assert alice_api.delete(connection_path(second)).status_code == 200
    listed = alice_api.get(f"/companies/{alice.company.pk}/connections").json()
    assert [c["id"] for c in listed["results"]] == [str(alice.connection.pk)]


def test_an_unlink_without_a_body_unlinks_and_a_connection_needs_no_platform_key(alice_api, alice):
    link(alice.checking)
    response = alice_api.patch(connection_path(alice.connection), {})
    assert (response.status_code, response.json()["status"]) == (200, "Unlinked")
    created = alice_api.post(f"/companies/{alice.company.pk}/connections", {})
    assert created.status_code == 200 and created.json()["platformKey"] == "hcws"


def test_an_account_sent_back_with_a_changed_read_only_field_is_refused(alice_api, alice):
    path = accounts_path(alice.connection) + "/alice-chk"
    read = alice_api.get(path).json()
    for name, value in [("id", "other"), ("currency", "CAD"), ("feedStartDate", "2026-01-01")]:
        assert_error(alice_api.patch(path, {**read, name: value}), 400, item=name)
    # modifiedDate changes with every write: never compared.
    stale = {**read, "modifiedDate": "2020-01-01T00:00:00Z", "accountName": "New"}
    assert alice_api.patch(path, stale).status_code == 200
