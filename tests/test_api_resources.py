"""The client API's resources (`product.md` §2, §3, §5, §9): authentication, companies,
connections, source accounts, credentials, the error shape, tenancy, query counts and the OpenAPI
document. The rules of writing bank transactions (§8) are tested elsewhere."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth.hashers import check_password
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import ApiKey, AuditEvent, Company, OrganizationSettings
from feeds import connection_rules
from feeds.feed_rules import disable_feed, link_feed
from feeds.link_urls import LinkTokenError, read_token
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    Feed,
    PushOperation,
    SourceAccount,
)
from tests.conftest import Api, issue_key
from tests.makers import (
    make_account,
    make_company,
    make_connection,
    make_credentials,
    make_push,
    make_transaction,
)

USERNAME = re.compile(r"^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$")
PLATFORM_NAME = "QuickBooks Online Bank Feeds"


# Helpers --------------------------------------------------------------------------------------


def company_path(company) -> str:
    return f"/companies/{company.pk}"


def connection_path(connection) -> str:
    return f"/companies/{connection.company_id}/connections/{connection.pk}"


def accounts_path(connection) -> str:
    return connection_path(connection) + "/connectionInfo/bankFeedAccounts"


def credentials_path(connection) -> str:
    return accounts_path(connection) + "/credentials"


def account_body(account_id: str = "new-chk", **overrides) -> dict:
    return {
        "id": account_id,
        "accountName": "New Checking",
        "accountType": "checking",
        "accountNumber": "987654321",
        "currency": "USD",
        "balance": 1234.56,
        **overrides,
    }


def link(account: SourceAccount, name: str = "Checking") -> Feed:
    return link_feed(
        account,
        target_account_id="35",
        target_account_name=name,
        target_account_type="Bank",
        feed_start_date=timezone.localdate(),
        actor=Actor.system(),
    )


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_error(response, status: int, item: str | None = None) -> dict:
    """The one error shape of §9, with its correlation id echoed in the header."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "statusCode",
        "service",
        "error",
        "correlationId",
        "validation",
        "canBeRetried",
        "detailedErrorCode",
    }
    assert body["statusCode"] == status
    assert body["service"] == "LinksiteApi"
    assert body["canBeRetried"] == ("True" if status in {408, 429, 500, 502, 503, 504} else "False")
    assert body["detailedErrorCode"] == status * 100
    assert isinstance(body["error"], str) and body["error"]
    assert body["correlationId"] and body["correlationId"] == response["X-Correlation-Id"]
    assert set(body["validation"]) == {"errors", "warnings"}
    assert isinstance(body["validation"]["errors"], list)
    assert isinstance(body["validation"]["warnings"], list)
    for problem in body["validation"]["errors"]:
        assert set(problem) == {"itemId", "message", "validatorName"}
    if item is not None:
        items = [p["itemId"] for p in body["validation"]["errors"]]
        assert item in items, body
    return body


@pytest.fixture
def off_api(client, alice):
    """Alice's key while the operator has not switched the integration on."""
    OrganizationSettings.objects.update_or_create(pk=1, defaults={"integration_enabled": False})
    return Api(client, issue_key("alice"))


# Authentication -------------------------------------------------------------------------------


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_it_accepts_a_bearer_key(alice_api, alice):
    response = alice_api.get("/companies")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [str(alice.company.pk)]


@pytest.mark.parametrize("form", ["{key}", "{key}:", ":{key}"])
def test_it_accepts_a_basic_key(client, alice, enabled, form):
    key = issue_key("alice")
    response = Api(client, None).get("/companies", Authorization=basic(form.format(key=key)))
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [str(alice.company.pk)]


# Each takes alice's good key and a revoked one of hers.
BAD_AUTHORIZATIONS = {
    "missing": lambda good, revoked: None,
    "unknown": lambda good, revoked: "Bearer lsk_not-a-real-key",
    "wrong": lambda good, revoked: f"Bearer {good}x",
    "revoked": lambda good, revoked: f"Bearer {revoked}",
    "empty-bearer": lambda good, revoked: "Bearer ",
    "bare-bearer": lambda good, revoked: "Bearer",
    "other-scheme": lambda good, revoked: f"Token {good}",
    "malformed-basic": lambda good, revoked: "Basic !!!not-base64!!!",
    "basic-not-utf8": lambda good, revoked: "Basic " + base64.b64encode(b"\xff\xfe").decode(),
    "basic-user-and-password": lambda good, revoked: basic(f"someone:{good}"),
    "basic-wrong": lambda good, revoked: basic(f"{good}x"),
    "basic-revoked": lambda good, revoked: basic(revoked),
}


@pytest.mark.parametrize("kind", BAD_AUTHORIZATIONS)
def test_it_refuses_a_bad_key_with_one_401_and_no_hint(client, alice, enabled, kind):
    revoked = issue_key("alice")
    ApiKey.objects.update(revoked=timezone.now())
    good = issue_key("alice")
    reference = assert_error(Api(client, None).get("/companies"), 401)
    value = BAD_AUTHORIZATIONS[kind](good, revoked)
    headers = {} if value is None else {"Authorization": value}
    response = Api(client, None).get("/companies", **headers)
    body = assert_error(response, 401)
    assert body["error"] == reference["error"]
    assert body["validation"] == {"errors": [], "warnings": []}
    assert response["WWW-Authenticate"] == reference_header(client)
    for hint in ("revoked", "expired", "unknown", "base64", "malformed", "not found"):
        assert hint not in body["error"].lower()
    assert Api(client, good).get("/companies").status_code == 200


def reference_header(client) -> str:
    header = Api(client, None).get("/companies")["WWW-Authenticate"]
    assert header.startswith("Bearer")
    return header


def test_it_refuses_a_revoked_key_that_worked_before(client, alice, enabled):
    api = Api(client, issue_key("alice"))
    assert api.get("/companies").status_code == 200
    ApiKey.objects.update(revoked=timezone.now())
    assert_error(api.get("/companies"), 401)
    assert_error(api.post("/companies", {"name": "Carol", "country": "US"}), 401)
    assert not Company.objects.filter(name="Carol").exists()


# Companies ------------------------------------------------------------------------------------


def test_it_creates_a_company(alice_api):
    response = alice_api.post(
        "/companies", {"name": "  Carol Café  ", "country": "CA", "description": "Bakery"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "name", "country", "description", "tags", "redirect", "created"}
    assert body["name"] == "Carol Café"
    assert (body["country"], body["description"]) == ("CA", "Bakery")
    company = Company.objects.get(pk=body["id"])
    assert company.name == "Carol Café"
    assert company.client.name == "alice"
    assert abs(utc(body["created"]) - timezone.now()) < dt.timedelta(minutes=1)


def test_it_refuses_a_company_without_a_name(alice_api):
    before = Company.objects.count()
    body = assert_error(alice_api.post("/companies", {"country": "US"}), 400, item="name")
    assert "name" in body["error"]
    assert_error(alice_api.post("/companies", {"name": "   ", "country": "US"}), 400, item="name")
    assert Company.objects.count() == before


@pytest.mark.parametrize("country", ["FR", "us", "USA", " US", 1, True, ["US"], {"code": "US"}])
def test_it_refuses_a_company_outside_the_us_and_canada(alice_api, country):
    before = Company.objects.count()
    body = assert_error(
        alice_api.post("/companies", {"name": "Carol", "country": country}), 400, item="country"
    )
    assert "country" in body["error"]
    assert Company.objects.count() == before


@pytest.mark.parametrize("body", [{}, {"country": None}, {"country": ""}])
def test_it_creates_a_company_whose_country_is_unknown(alice_api, body):
    # The hosted service's create body has no country: absent, null and "" all mean unknown.
    response = alice_api.post("/companies", {"name": "Carol", "description": "Bakery", **body})
    assert response.status_code == 200, response.content
    assert response.json()["country"] is None
    company = Company.objects.get(pk=response.json()["id"])
    assert (company.country, company.country_known) == ("", False)
    assert alice_api.get(company_path(company)).json()["country"] is None
    listed = alice_api.get("/companies").json()["results"]
    assert [c["country"] for c in listed if c["id"] == str(company.pk)] == [None]


def unknown_country_connection(alice_api) -> Connection:
    """A company created without a country, with a connection and one account, through the API."""
    company = alice_api.post("/companies", {"name": "Carol"}).json()
    created = alice_api.post(f"/companies/{company['id']}/connections", {"platformKey": "hcws"})
    assert created.status_code == 200, created.content
    assert created.json()["linkUrl"]
    connection = Connection.objects.get(pk=created.json()["id"])
    response = alice_api.post(accounts_path(connection), account_body("carol-chk"))
    assert response.status_code == 200, response.content
    return connection


def test_credentials_wait_for_the_companys_country(alice_api):
    connection = unknown_country_connection(alice_api)
    body = assert_error(alice_api.post(credentials_path(connection), {}), 400, item="country")
    assert [p["validatorName"] for p in body["validation"]["errors"]] == ["countryRequired"]
    assert "PATCH" in body["error"] and "Link" in body["error"]
    assert not CredentialSet.objects.filter(connection=connection).exists()
    assert not AuditEvent.objects.filter(action="credentials.issued").exists()

    response = alice_api.patch(company_path(connection.company), {"country": "CA"})
    assert response.status_code == 200
    assert response.json()["country"] == "CA"
    issued = alice_api.post(credentials_path(connection), {})
    assert issued.status_code == 200, issued.content
    assert issued.json()["sourceAccountIds"] == ["carol-chk"]
    assert CredentialSet.objects.filter(connection=connection).count() == 1


def test_an_unknown_country_cannot_be_set_nor_a_known_one_unset(alice_api, alice):
    connection = unknown_country_connection(alice_api)
    for country in ["", "FR", 1]:
        assert_error(
            alice_api.patch(company_path(connection.company), {"country": country}),
            400,
            item="country",
        )
    connection.company.refresh_from_db()
    assert connection.company.country == ""
    assert_error(alice_api.patch(company_path(alice.company), {"country": ""}), 400, item="country")
    alice.company.refresh_from_db()
    assert alice.company.country == "US"


def test_it_refuses_a_company_without_a_body(alice_api):
    before = Company.objects.count()
    assert_error(alice_api.post("/companies"), 400, item="body")
    assert Company.objects.count() == before


@pytest.mark.parametrize("field", ["name", "description"])
def test_it_refuses_a_nul_character_in_a_company(alice_api, field):
    # PostgreSQL cannot store NUL in text: accepting it would be a 500 there, a 200 on SQLite.
    body = {"name": "Carol", "country": "US", field: "Car\u0000ol"}
    before = Company.objects.count()
    assert_error(alice_api.post("/companies", body), 400, item=field)
    assert Company.objects.count() == before


def test_it_refuses_a_nul_character_in_an_account_name(alice_api, alice):
    body = account_body("nul-1", accountName="Chk\u0000")
    assert_error(alice_api.post(accounts_path(alice.connection), body), 400, item="accountName")


def test_it_lists_companies_in_pages(alice_api, alice):
    for n in range(4):
        make_company(f"Alice {n}", "US", client="alice")
    response = alice_api.get("/companies", {"page": 2, "pageSize": 2})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "pageNumber", "pageSize", "totalResults", "_links"}
    assert (body["pageNumber"], body["pageSize"], body["totalResults"]) == (2, 2, 5)
    assert len(body["results"]) == 2
    first = alice_api.get("/companies", {"page": 1, "pageSize": 2}).json()["results"]
    third = alice_api.get("/companies", {"page": 3, "pageSize": 2}).json()["results"]
    ids = [c["id"] for c in first + body["results"] + third]
    assert len(set(ids)) == 5
    assert set(ids) == {str(c.pk) for c in Company.objects.filter(client__name="alice")}


def test_it_defaults_to_pages_of_100(alice_api):
    body = alice_api.get("/companies").json()
    assert (body["pageNumber"], body["pageSize"]) == (1, 100)


def test_it_answers_an_empty_page_beyond_the_end(alice_api):
    response = alice_api.get("/companies", {"page": 99})
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == []
    assert (body["pageNumber"], body["totalResults"]) == (99, 1)


def test_it_allows_pages_of_5000(alice_api):
    response = alice_api.get("/companies", {"pageSize": 5000})
    assert response.status_code == 200
    assert response.json()["pageSize"] == 5000


@pytest.mark.parametrize(
    ("params", "item"),
    [
        ({"pageSize": 5001}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "two"}, "page"),
    ],
)
def test_it_refuses_a_page_out_of_range(alice_api, params, item):
    body = assert_error(alice_api.get("/companies", params), 400, item=item)
    assert item in body["error"]


def test_it_gets_a_company(alice_api, alice):
    response = alice_api.get(company_path(alice.company))
    assert response.status_code == 200
    assert response.json()["id"] == str(alice.company.pk)
    assert response.json()["name"] == "Alice Bakery"


def test_it_renames_a_company_and_moves_it_to_canada(alice_api, alice):
    response = alice_api.patch(company_path(alice.company), {"name": " Alice Pâtisserie "})
    assert response.status_code == 200
    assert response.json()["name"] == "Alice Pâtisserie"
    response = alice_api.patch(company_path(alice.company), {"country": "CA"})
    assert response.status_code == 200
    assert response.json()["country"] == "CA"
    alice.company.refresh_from_db()
    assert (alice.company.name, alice.company.country) == ("Alice Pâtisserie", "CA")


@pytest.mark.parametrize(
    ("body", "item"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "FR"}, "country"),
        ({"name": "  "}, "name"),
        ({"tags": {"k": "v" * 101}}, "tags.k"),
        ({"tags": {f"k{n}": "v" for n in range(11)}}, "tags"),
        ({"name": "Ally", "id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({"name": "Ally", "created": "2020-01-01T00:00:00Z"}, "created"),
    ],
)
def test_it_refuses_a_bad_company_change(alice_api, alice, body, item):
    assert_error(alice_api.patch(company_path(alice.company), body), 400, item=item)
    alice.company.refresh_from_db()
    assert (alice.company.name, alice.company.country) == ("Alice Bakery", "US")


def test_it_deletes_a_company(alice_api, alice):
    response = alice_api.delete(company_path(alice.company))
    assert response.status_code == 204
    assert response.content == b""
    assert not Company.objects.filter(pk=alice.company.pk).exists()
    assert not Connection.objects.filter(pk=alice.connection.pk).exists()
    assert_error(alice_api.get(company_path(alice.company)), 404)
    assert_error(alice_api.delete(company_path(alice.company)), 404)
    assert AuditEvent.objects.filter(action="company.deleted").exists()


def test_it_deletes_a_company_that_has_transactions(alice_api, alice):
    link(alice.checking)
    push = make_push(alice.checking, status="Success")
    make_transaction(alice.checking, "t-1", push=push)
    assert alice_api.delete(company_path(alice.company)).status_code == 204
    assert not BankTransaction.objects.exists()
    assert not PushOperation.objects.exists()


# Connections ----------------------------------------------------------------------------------


def test_it_creates_a_connection_pending_auth(alice_api, alice, settings):
    response = alice_api.post(f"/companies/{alice.company.pk}/connections", {"platformKey": "hcws"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "PendingAuth"
    assert body["platformKey"] == "hcws"
    assert body["platformName"] == PLATFORM_NAME
    assert body["sourceType"] == "BankFeed"
    assert body["companyId"] == str(alice.company.pk)
    assert body["linkUrl"].startswith(settings.SITE_URL + "/link/start?token=")
    connection = Connection.objects.get(pk=body["id"])
    assert connection.company == alice.company
    assert read_token(token_of(body["linkUrl"])) == connection


@pytest.mark.parametrize("platform_key", ["xero", "HCWS", "", None, 1])
def test_it_refuses_a_connection_to_another_platform(alice_api, alice, platform_key):
    before = Connection.objects.count()
    body = assert_error(
        alice_api.post(f"/companies/{alice.company.pk}/connections", {"platformKey": platform_key}),
        400,
        item="platformKey",
    )
    assert "platformKey" in body["error"]
    assert Connection.objects.count() == before


def test_it_refuses_connections_while_the_integration_is_off(off_api, alice):
    before = Connection.objects.count()
    response = off_api.post(f"/companies/{alice.company.pk}/connections", {"platformKey": "hcws"})
    body = assert_error(response, 403)
    assert "account manager" in body["error"]
    assert Connection.objects.count() == before


def test_it_refuses_connections_when_no_settings_were_ever_saved(client, alice):
    OrganizationSettings.objects.all().delete()
    api = Api(client, issue_key("alice"))
    response = api.post(f"/companies/{alice.company.pk}/connections", {"platformKey": "hcws"})
    assert "account manager" in assert_error(response, 403)["error"]


def test_it_lists_a_companys_connections(alice_api, alice):
    newer = make_connection(alice.company)
    response = alice_api.get(f"/companies/{alice.company.pk}/connections")
    assert response.status_code == 200
    body = response.json()
    assert body["totalResults"] == 2
    assert [c["id"] for c in body["results"]] == [str(newer.pk), str(alice.connection.pk)]
    for item in body["results"]:
        assert read_token(token_of(item["linkUrl"])).pk == Connection.objects.get(pk=item["id"]).pk


def test_it_gives_a_fresh_valid_link_url_on_every_read(alice_api, alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = alice_api.get(connection_path(alice.connection))
        assert first.status_code == 200
        assert read_token(token_of(first.json()["linkUrl"])) == alice.connection
    with time_machine.travel(start + dt.timedelta(seconds=5), tick=False):
        second = alice_api.get(connection_path(alice.connection))
        assert read_token(token_of(second.json()["linkUrl"])) == alice.connection
        # The earlier one is still valid within its hour.
        assert read_token(token_of(first.json()["linkUrl"])) == alice.connection
    assert first.json()["linkUrl"] != second.json()["linkUrl"]
    body = second.json()
    assert body["status"] == "PendingAuth"
    assert (body["platformName"], body["sourceType"]) == (PLATFORM_NAME, "BankFeed")


def test_every_connection_read_names_the_same_qbo_bank_feeds_integration(alice_api, alice):
    base = f"/companies/{alice.company.pk}/connections"
    created = alice_api.post(base, {"platformKey": "hcws"}).json()
    fetched = alice_api.get(f"{base}/{alice.connection.pk}").json()
    listed = alice_api.get(base).json()["results"]
    expected = {
        "integrationId": "23ef72e4-f155-5554-8e6c-618052d9e303",
        "integrationKey": "hcws",
        "sourceId": "56ec0661-5733-5fab-b9ab-9badc24c92ae",
        "sourceType": "BankFeed",
        "platformName": PLATFORM_NAME,
    }
    assert len(listed) == 2
    for body in [created, fetched, *listed]:
        assert {name: body[name] for name in expected} == expected
        assert body["linkUrl"] and body["status"] and body["created"]


def test_the_documented_connection_requires_what_the_hosted_service_requires(client, db):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["ConnectionOut"]
    required = {"id", "integrationId", "sourceId", "platformName", "linkUrl", "status"}
    assert required | {"created", "sourceType", "integrationKey"} <= set(schema["required"])


def test_it_refuses_to_unlink_a_connection_that_is_not_linked(alice_api, alice):
    response = alice_api.patch(connection_path(alice.connection), {"status": "Unlinked"})
    # 403, a status the hosted service documents for this operation (its SDK types it).
    assert_error(response, 403, item="status")
    alice.connection.refresh_from_db()
    assert alice.connection.status == "PendingAuth"


def test_it_unlinks_a_linked_connection(alice_api, alice):
    feed = link(alice.checking)
    response = alice_api.patch(connection_path(alice.connection), {"status": "Unlinked"})
    assert response.status_code == 200
    assert response.json()["status"] == "Unlinked"
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Unlinked"
    feed.refresh_from_db()
    assert feed.ended is not None
    assert AuditEvent.objects.filter(action="connection.status", data__to="Unlinked").exists()
    # Already Unlinked: answered as it is, with nothing recorded again.
    events = AuditEvent.objects.count()
    again = alice_api.patch(connection_path(alice.connection), {"status": "Unlinked"})
    assert (again.status_code, again.json()["status"]) == (200, "Unlinked")
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "body",
    [
        {"status": "Linked"},
        {"status": "Deauthorized"},
        {"status": "PendingAuth"},
        {"status": "unlinked"},
        {"status": "Unlinked", "platformKey": "xero"},
        {"status": "Unlinked", "id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_it_refuses_any_other_connection_change(alice_api, alice, body):
    link(alice.checking)
    assert_error(alice_api.patch(connection_path(alice.connection), body), 400)
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Linked"


def test_a_deleted_connection_is_deauthorized_and_then_not_found(alice_api, alice):
    feed = link(alice.checking)
    old_url = alice_api.get(connection_path(alice.connection)).json()["linkUrl"]
    credential_set = make_credentials(alice.connection)
    push = make_push(alice.checking)

    response = alice_api.delete(connection_path(alice.connection))
    # 200 with no body, as the hosted service answers.
    assert (response.status_code, response.content) == (200, b"")

    assert_error(alice_api.get(connection_path(alice.connection)), 404)
    assert_error(alice_api.get(accounts_path(alice.connection)), 404)
    assert_error(alice_api.delete(connection_path(alice.connection)), 404)
    listed = alice_api.get(f"/companies/{alice.company.pk}/connections").json()
    assert listed["totalResults"] == 0
    # Its push operations stay in the company's history.
    pushes = alice_api.get(f"/companies/{alice.company.pk}/push").json()["results"]
    assert [p["pushOperationKey"] for p in pushes] == [str(push.key)]

    with pytest.raises(LinkTokenError) as exc:
        read_token(token_of(old_url))
    assert exc.value.reason == "revoked"
    feed.refresh_from_db()
    assert feed.ended is not None
    credential_set.refresh_from_db()
    assert credential_set.revoked is not None
    # The row and its trail are kept.
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Deauthorized" and alice.connection.deleted is not None
    assert SourceAccount.objects.filter(connection=alice.connection).count() == 2
    actions = set(
        AuditEvent.objects.filter(object_id=str(alice.connection.pk)).values_list(
            "action", flat=True
        )
    )
    assert {"connection.status", "connection.deleted"} <= actions


def test_a_pending_connection_can_be_deleted(alice_api, alice):
    assert alice_api.delete(connection_path(alice.connection)).status_code == 200
    assert_error(alice_api.get(connection_path(alice.connection)), 404)


def test_it_refuses_new_accounts_and_credentials_on_a_deauthorized_connection(alice_api, alice):
    # Deauthorized by an operator (admin): still readable, closed for good.
    connection_rules.deauthorize(alice.connection, actor=Actor.system(), reason="test")
    assert alice_api.get(connection_path(alice.connection)).json()["status"] == "Deauthorized"
    accounts_before = SourceAccount.objects.count()
    sets_before = CredentialSet.objects.count()
    assert_error(alice_api.post(accounts_path(alice.connection), account_body()), 409)
    assert_error(alice_api.post(accounts_path(alice.connection) + "/batch", [account_body()]), 409)
    assert_error(alice_api.post(credentials_path(alice.connection), {}), 409)
    assert SourceAccount.objects.count() == accounts_before
    assert CredentialSet.objects.count() == sets_before
    # Nor can it be unlinked.
    assert_error(alice_api.patch(connection_path(alice.connection), {"status": "Unlinked"}), 403)


# Source accounts ------------------------------------------------------------------------------


def test_it_creates_a_source_account(alice_api, alice):
    response = alice_api.post(accounts_path(alice.connection), account_body())
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "new-chk"
    assert body["status"] == "pending"
    assert (body["accountName"], body["accountType"]) == ("New Checking", "checking")
    assert (body["accountNumber"], body["currency"]) == ("987654321", "USD")
    assert body["balance"] == 1234.56
    assert isinstance(body["balance"], float)
    assert b'"balance": 1234.56' in response.content or b'"balance":1234.56' in response.content
    assert body["routingNumber"] is None
    assert body["sortCode"] is None
    assert body["feedStartDate"] is None
    assert body["targetAccountName"] is None
    assert body["feedDisabledOnUtc"] is None
    assert body["modifiedDate"]
    account = SourceAccount.objects.get(connection=alice.connection, account_id="new-chk")
    assert account.balance == Decimal("1234.56")
    assert account.status == "pending"


def test_it_keeps_routing_number_sort_code_and_large_balances(alice_api, alice):
    body = account_body(
        "chk 2é", routingNumber="021000021", sortCode="12-34-56", balance="1234567890123.45"
    )
    response = alice_api.post(accounts_path(alice.connection), body)
    assert response.status_code == 200
    assert response.json()["routingNumber"] == "021000021"
    assert response.json()["sortCode"] == "12-34-56"
    fetched = alice_api.get(accounts_path(alice.connection) + "/chk%202%C3%A9")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == "chk 2é"
    assert fetched.json()["balance"] == 1234567890123.45
    assert SourceAccount.objects.get(account_id="chk 2é").balance == Decimal("1234567890123.45")


def test_it_refuses_a_duplicate_account_id(alice_api, alice):
    response = alice_api.post(accounts_path(alice.connection), account_body("alice-chk"))
    assert_error(response, 409, item="id")
    assert SourceAccount.objects.get(account_id="alice-chk").account_name == "Alice Checking"


def test_it_allows_the_same_account_id_on_another_connection(alice_api, alice):
    other = make_connection(alice.company)
    assert alice_api.post(accounts_path(other), account_body("alice-chk")).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "item"),
    [
        ({"id": "batch"}, "id"),
        ({"id": "credentials"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 101}, "id"),
        ({"accountType": "brokerage"}, "accountType"),
        ({"currency": "EUR"}, "currency"),
        ({"balance": 1.234}, "balance"),
        ({"balance": "1.234"}, "balance"),
        ({"balance": "lots"}, "balance"),
        ({"accountName": "  "}, "accountName"),
        ({"accountNumber": ""}, "accountNumber"),
        ({"accountNumber": "1" * 51}, "accountNumber"),
        ({"routingNumber": "1" * 51}, "routingNumber"),
        ({"balance": 1e20}, "balance"),
        ({"balance": "Infinity"}, "balance"),
        ({"balance": True}, "balance"),
        ({"balance": None}, "balance"),
    ],
)
def test_it_refuses_an_invalid_source_account(alice_api, alice, overrides, item):
    before = SourceAccount.objects.count()
    body = account_body("bad-1", **overrides)
    assert_error(alice_api.post(accounts_path(alice.connection), body), 400, item=item)
    assert SourceAccount.objects.count() == before


@pytest.mark.parametrize("missing", ["id", "accountName", "accountType", "currency", "balance"])
def test_it_names_a_missing_account_field(alice_api, alice, missing):
    body = account_body("new-1")
    del body[missing]
    assert_error(alice_api.post(accounts_path(alice.connection), body), 400, item=missing)


def test_it_creates_accounts_in_a_batch(alice_api, alice):
    items = [account_body("b-1"), account_body("b-2", accountType="savings", currency="USD")]
    response = alice_api.post(accounts_path(alice.connection) + "/batch", items)
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body, list)
    assert [r["sourceAccountId"] for r in body] == ["b-1", "b-2"]
    for result in body:
        assert result["result"]["statusCode"] == 200
        assert result["result"]["account"]["id"] == result["sourceAccountId"]
        assert result["result"]["account"]["status"] == "pending"
    assert set(
        SourceAccount.objects.filter(connection=alice.connection).values_list(
            "account_id", flat=True
        )
    ) == {"alice-chk", "alice-visa", "b-1", "b-2"}


def test_it_reports_each_account_of_a_partly_failed_batch(alice_api, alice):
    items = [
        account_body("b-1"),
        account_body("alice-chk"),
        account_body("b-3", currency="EUR"),
        account_body("b-4"),
        account_body("b-4"),
    ]
    response = alice_api.post(accounts_path(alice.connection) + "/batch", items)
    assert response.status_code == 207
    body = response.json()
    assert [r["sourceAccountId"] for r in body] == ["b-1", "alice-chk", "b-3", "b-4", "b-4"]
    assert [r["result"]["statusCode"] for r in body] == [200, 409, 400, 200, 409]
    assert body[1]["result"]["account"] is None
    assert body[1]["result"]["error"]
    invalid = body[2]["result"]
    assert invalid["account"] is None
    assert any(e["itemId"].endswith("currency") for e in invalid["validation"]["errors"])
    ids = set(
        SourceAccount.objects.filter(connection=alice.connection).values_list(
            "account_id", flat=True
        )
    )
    assert ids == {"alice-chk", "alice-visa", "b-1", "b-4"}
    assert SourceAccount.objects.get(account_id="alice-chk").account_name == "Alice Checking"


@pytest.mark.parametrize(
    "raw",
    [b"{}", b'{"id": "b-1"}', b"[]", b'"b-1"', b"null", b"42"],
    ids=["object", "one-account-object", "empty", "string", "null", "number"],
)
def test_it_refuses_a_batch_that_is_not_a_list_of_accounts(alice_api, alice, raw):
    before = SourceAccount.objects.count()
    assert_error(alice_api.post(accounts_path(alice.connection) + "/batch", raw=raw), 400)
    assert SourceAccount.objects.count() == before


def test_it_refuses_a_batch_of_more_than_1000_accounts(alice_api, alice):
    items = [account_body(f"b-{n}") for n in range(1001)]
    assert_error(alice_api.post(accounts_path(alice.connection) + "/batch", items), 400)
    assert SourceAccount.objects.filter(account_id__startswith="b-").count() == 0


def test_it_lists_a_connections_accounts_as_an_array(alice_api, alice):
    feed = link(alice.checking, name="QBO Checking")
    response = alice_api.get(accounts_path(alice.connection))
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    by_id = {a["id"]: a for a in body}
    assert set(by_id) == {"alice-chk", "alice-visa"}
    assert by_id["alice-chk"]["status"] == "connected"
    assert by_id["alice-chk"]["targetAccountName"] == "QBO Checking"
    assert by_id["alice-chk"]["feedStartDate"] == feed.feed_start_date.isoformat()
    assert by_id["alice-visa"]["status"] == "pending"
    assert by_id["alice-visa"]["accountType"] == "creditCard"


def test_it_gets_one_account(alice_api, alice):
    response = alice_api.get(accounts_path(alice.connection) + "/alice-visa")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["accountName"]) == ("alice-visa", "Alice Visa")
    assert body["balance"] == 100.0


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_it_answers_404_for_an_unknown_account(alice_api, alice, method):
    path = accounts_path(alice.connection) + "/nope"
    response = getattr(alice_api, method)(
        path, *([{"accountName": "X"}] if method == "patch" else [])
    )
    assert_error(response, 404)


def test_it_renames_an_account(alice_api, alice):
    link(alice.checking)
    path = accounts_path(alice.connection) + "/alice-chk"
    response = alice_api.patch(path, {"accountName": "  Main Checking "})
    assert response.status_code == 200
    assert response.json()["accountName"] == "Main Checking"
    alice.checking.refresh_from_db()
    assert alice.checking.account_name == "Main Checking"


def test_it_sets_the_balance_of_a_pending_account(alice_api, alice):
    path = accounts_path(alice.connection) + "/alice-chk"
    response = alice_api.patch(path, {"balance": "250.75"})
    assert response.status_code == 200
    assert response.json()["balance"] == 250.75
    alice.checking.refresh_from_db()
    assert alice.checking.balance == Decimal("250.75")


def test_it_refuses_to_set_the_balance_of_a_connected_account(alice_api, alice):
    link(alice.checking)
    path = accounts_path(alice.connection) + "/alice-chk"
    assert_error(alice_api.patch(path, {"balance": 5}), 400, item="balance")
    # The stored balance sent back unchanged (a whole-object update) is fine.
    assert alice_api.patch(path, {"balance": "100.0", "accountName": "Renamed"}).status_code == 200
    alice.checking.refresh_from_db()
    assert alice.checking.balance == Decimal("100.00")


@pytest.mark.parametrize(
    ("body", "item"),
    [
        ({"accountNumber": "111"}, "accountNumber"),
        ({"currency": "CAD"}, "currency"),
        ({"id": "renamed"}, "id"),
        ({"status": "connected"}, "status"),
        ({"balance": 1.234}, "balance"),
        ({"accountName": ""}, "accountName"),
    ],
)
def test_it_refuses_other_account_changes(alice_api, alice, body, item):
    path = accounts_path(alice.connection) + "/alice-chk"
    assert_error(alice_api.patch(path, body), 400, item=item)
    alice.checking.refresh_from_db()
    assert (alice.checking.account_number, alice.checking.currency) == ("000123456789", "USD")
    assert (alice.checking.account_id, alice.checking.status) == ("alice-chk", "pending")


def test_it_deletes_an_account_and_ends_its_feed(alice_api, alice):
    feed = link(alice.checking)
    response = alice_api.delete(accounts_path(alice.connection) + "/alice-chk")
    assert response.status_code == 204
    assert response.content == b""
    ids = [a["id"] for a in alice_api.get(accounts_path(alice.connection)).json()]
    assert ids == ["alice-visa"]
    assert not Feed.objects.filter(pk=feed.pk).exists()
    ended = AuditEvent.objects.get(action="feed.ended")
    assert ended.object_id == str(alice.checking.pk)
    assert AuditEvent.objects.filter(action="source_account.deleted").exists()
    assert_error(alice_api.get(accounts_path(alice.connection) + "/alice-chk"), 404)
    assert_error(alice_api.delete(accounts_path(alice.connection) + "/alice-chk"), 404)


def test_it_deletes_an_account_that_has_transactions(alice_api, alice):
    link(alice.checking)
    push = make_push(alice.checking, status="Success")
    make_transaction(alice.checking, "t-1", push=push)
    assert alice_api.delete(accounts_path(alice.connection) + "/alice-chk").status_code == 204
    assert not BankTransaction.objects.exists()
    # The push operation stays readable.
    response = alice_api.get(f"/companies/{alice.company.pk}/push/{push.key}")
    assert response.status_code == 200
    assert response.json()["accountId"] == "alice-chk"


def test_it_shows_when_qbo_disabled_an_accounts_feed(alice_api, alice):
    feed = link(alice.checking)
    at = timezone.now().replace(microsecond=0)
    disable_feed(feed, actor=Actor.qbo(), at=at)
    body = alice_api.get(accounts_path(alice.connection) + "/alice-chk").json()
    # Still connected during the grace period; the date tells the client why writes fail.
    assert body["status"] == "connected"
    assert utc(body["feedDisabledOnUtc"]) == at


def test_it_shows_the_newest_feed_of_a_relinked_account(alice_api, alice):
    old = link(alice.checking, name="Old Checking")
    Feed.objects.filter(pk=old.pk).update(ended=timezone.now())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        link(alice.checking, name="New Checking")
    body = alice_api.get(accounts_path(alice.connection) + "/alice-chk").json()
    assert body["targetAccountName"] == "New Checking"


def test_it_moves_modified_date_when_an_account_changes(alice_api, alice):
    path = accounts_path(alice.connection) + "/alice-chk"
    before = utc(alice_api.get(path).json()["modifiedDate"])
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        after = utc(alice_api.patch(path, {"accountName": "Renamed"}).json()["modifiedDate"])
    assert after - before >= dt.timedelta(minutes=4)


# Credentials ----------------------------------------------------------------------------------


def test_it_issues_one_time_credentials(alice_api, alice, caplog):
    caplog.set_level("DEBUG")
    response = alice_api.post(credentials_path(alice.connection), {})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"username", "password", "expiresOnUtc", "sourceAccountIds"}
    assert USERNAME.match(body["username"])
    password = body["password"]
    assert len(password) == 16
    assert password.isascii() and password.isalnum()
    assert any(c.islower() for c in password)
    assert any(c.isupper() for c in password)
    assert any(c.isdigit() for c in password)
    expected_expiry = timezone.now() + dt.timedelta(minutes=60)
    assert abs(utc(body["expiresOnUtc"]) - expected_expiry) < dt.timedelta(minutes=1)
    assert sorted(body["sourceAccountIds"]) == ["alice-chk", "alice-visa"]

    stored = CredentialSet.objects.get(username=body["username"])
    assert stored.connection == alice.connection
    assert stored.origin == "api"
    assert stored.password_hash != password
    assert password not in stored.password_hash
    assert check_password(password, stored.password_hash)
    assert not check_password(password + "x", stored.password_hash)
    assert {a.account_id for a in stored.source_accounts.all()} == {"alice-chk", "alice-visa"}
    assert (stored.used, stored.revoked, stored.locked) == (None, None, None)
    assert password not in caplog.text


@pytest.mark.parametrize("how", ["empty-json", "no-content-type"])
def test_it_issues_credentials_without_a_body(alice_api, alice, how):
    path = credentials_path(alice.connection)
    if how == "empty-json":
        response = alice_api.post(path)
    else:
        response = alice_api.client.generic(
            "POST", "/api/v1" + path, b"", content_type="", headers=alice_api.headers()
        )
    assert response.status_code == 200, response.content
    assert USERNAME.match(response.json()["username"])


def test_it_ignores_unknown_fields_in_a_credentials_request(alice_api, alice):
    response = alice_api.post(credentials_path(alice.connection), {"accounts": ["alice-chk"]})
    assert response.status_code == 200
    assert sorted(response.json()["sourceAccountIds"]) == ["alice-chk", "alice-visa"]


def test_it_issues_a_new_set_each_time_and_keeps_the_earlier_one(alice_api, alice):
    first = alice_api.post(credentials_path(alice.connection), {}).json()
    second = alice_api.post(credentials_path(alice.connection), {}).json()
    assert first["username"] != second["username"]
    assert first["password"] != second["password"]
    for issued in (first, second):
        stored = CredentialSet.objects.get(username=issued["username"])
        assert stored.revoked is None
        assert stored.state == "active"
        assert check_password(issued["password"], stored.password_hash)


def test_it_refuses_credentials_while_the_integration_is_off(off_api, alice):
    response = off_api.post(credentials_path(alice.connection), {})
    assert "account manager" in assert_error(response, 403)["error"]
    assert not CredentialSet.objects.exists()


def test_it_refuses_credentials_for_a_connection_without_accounts(alice_api, alice):
    empty = make_connection(alice.company)
    assert_error(alice_api.post(credentials_path(empty), {}), 409)
    assert not CredentialSet.objects.exists()


def test_it_revokes_every_set_of_the_connection_used_ones_too(alice_api, alice):
    issued = [alice_api.post(credentials_path(alice.connection), {}).json() for _ in range(3)]
    used = issued[0]["username"]
    CredentialSet.objects.filter(username=used).update(used=timezone.now())
    other = make_connection(alice.company)
    make_account(other, "other-1")
    untouched = make_credentials(other, "ZZZZ-ZZZZ-ZZZZ")

    response = alice_api.delete(credentials_path(alice.connection))
    assert response.status_code == 204
    assert response.content == b""

    assert CredentialSet.objects.get(username=used).revoked is not None
    for item in issued[1:]:
        assert CredentialSet.objects.get(username=item["username"]).revoked is not None
    untouched.refresh_from_db()
    assert untouched.revoked is None
    revoked = AuditEvent.objects.get(action="credentials.revoked")
    assert revoked.data["count"] == 3


def test_it_audits_credentials_without_ever_recording_the_password(alice_api, alice):
    issued = alice_api.post(credentials_path(alice.connection), {}).json()
    assert alice_api.delete(credentials_path(alice.connection)).status_code == 204
    assert AuditEvent.objects.filter(action="credentials.issued").count() == 1
    assert AuditEvent.objects.filter(action="credentials.revoked").count() == 1
    issued_event = AuditEvent.objects.get(action="credentials.issued")
    assert issued_event.actor_type == "api_key"
    assert issued_event.company_id == alice.company.pk
    stored_hash = CredentialSet.objects.get(username=issued["username"]).password_hash
    for event in AuditEvent.objects.all():
        dumped = json.dumps(event.data)
        assert issued["password"] not in dumped
        assert stored_hash not in dumped


# Push operations and transactions (reading them; writing is tested elsewhere) ----------------


def test_it_gets_a_push_operation(alice_api, alice):
    link(alice.checking)
    problems = {"errors": [{"itemId": "t-1", "message": "Bad", "validatorName": "x"}]}
    failed = make_push(
        alice.checking, status="Failed", validation={**problems, "warnings": []}, error_message="No"
    )
    response = alice_api.get(f"/companies/{alice.company.pk}/push/{failed.key}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "pushOperationKey",
        "companyId",
        "dataConnectionKey",
        "accountId",
        "dataType",
        "status",
        "statusCode",
        "requestedOnUtc",
        "completedOnUtc",
        "errorMessage",
        "validation",
        "transactionCount",
    }
    assert body["pushOperationKey"] == str(failed.key)
    assert body["companyId"] == str(alice.company.pk)
    assert body["dataConnectionKey"] == str(alice.connection.pk)
    assert (body["accountId"], body["dataType"]) == ("alice-chk", "bankTransactions")
    assert (body["status"], body["statusCode"]) == ("Failed", 400)
    assert body["errorMessage"] == "No"
    assert body["validation"] == {**problems, "warnings": []}
    assert body["transactionCount"] == 0


def test_it_lists_push_operations_newest_first_in_pages(alice_api, alice):
    link(alice.checking)
    start = timezone.now() - dt.timedelta(hours=1)
    keys = [
        make_push(
            alice.checking, status="Success", requested_on_utc=start + dt.timedelta(minutes=n)
        ).key
        for n in range(5)
    ]
    body = alice_api.get(f"/companies/{alice.company.pk}/push", {"pageSize": 2}).json()
    assert (body["pageNumber"], body["pageSize"], body["totalResults"]) == (1, 2, 5)
    assert [p["pushOperationKey"] for p in body["results"]] == [str(keys[4]), str(keys[3])]
    assert [p["statusCode"] for p in body["results"]] == [200, 200]
    last = alice_api.get(f"/companies/{alice.company.pk}/push", {"page": 3, "pageSize": 2})
    assert [p["pushOperationKey"] for p in last.json()["results"]] == [str(keys[0])]
    assert_error(alice_api.get(f"/companies/{alice.company.pk}/push", {"pageSize": 5001}), 400)


def test_it_lists_an_accounts_transactions_with_their_delivery_state(alice_api, alice):
    link(alice.checking)
    push = make_push(alice.checking, status="Success", transaction_count=3)
    today = timezone.localdate()
    delivered_at = timezone.now().replace(microsecond=0)
    make_transaction(
        alice.checking,
        "t-b",
        push=push,
        cleared_on_date=today,
        amount=Decimal("20.05"),
        transaction_type="Credit",
        balance=Decimal("120.05"),
    )
    make_transaction(
        alice.checking,
        "t-a",
        push=push,
        cleared_on_date=today - dt.timedelta(days=1),
        delivery_state="delivered",
        delivered=delivered_at,
    )
    make_transaction(alice.checking, "t-c", push=push, cleared_on_date=today)
    path = accounts_path(alice.connection) + "/alice-chk/bankTransactions"

    body = alice_api.get(path).json()
    assert (body["pageNumber"], body["pageSize"], body["totalResults"]) == (1, 100, 3)
    assert [t["id"] for t in body["results"]] == ["t-a", "t-b", "t-c"]
    first, second = body["results"][0], body["results"][1]
    assert first["deliveryState"] == "delivered"
    assert utc(first["deliveredOnUtc"]) == delivered_at
    assert first["amount"] == -12.5
    assert first["pushOperationKey"] == str(push.key)
    assert second["deliveryState"] == "pending"
    assert second["deliveredOnUtc"] is None
    assert (second["amount"], second["balance"]) == (20.05, 120.05)
    assert second["clearedOnDate"] == today.isoformat()
    assert second["transactionType"] == "Credit"

    pending = alice_api.get(path, {"deliveryState": "pending"}).json()
    assert [t["id"] for t in pending["results"]] == ["t-b", "t-c"]
    assert pending["totalResults"] == 2
    paged = alice_api.get(path, {"page": 2, "pageSize": 2}).json()
    assert [t["id"] for t in paged["results"]] == ["t-c"]
    assert_error(alice_api.get(path, {"deliveryState": "lost"}), 400, item="deliveryState")
    assert_error(alice_api.get(accounts_path(alice.connection) + "/nope/bankTransactions"), 404)


# Errors everywhere ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "Carol", ', b"{'name': 'Carol'}", b"\xff\xfe{}", b'{"name": "C", "x": NaN}'],
    ids=["truncated", "single-quotes", "not-utf8", "nan"],
)
def test_it_explains_a_body_that_is_not_json(alice_api, raw):
    before = Company.objects.count()
    body = assert_error(alice_api.post("/companies", raw=raw), 400)
    assert "not valid JSON" in body["error"]
    assert Company.objects.count() == before


def test_it_explains_a_batch_body_that_is_not_json(alice_api, alice):
    response = alice_api.post(accounts_path(alice.connection) + "/batch", raw=b"[{")
    assert "not valid JSON" in assert_error(response, 400)["error"]


@pytest.mark.parametrize("raw", [b'[{"name": "Carol", "country": "US"}]', b'"Carol"', b"null"])
def test_it_refuses_a_company_body_that_is_not_an_object(alice_api, raw):
    before = Company.objects.count()
    assert_error(alice_api.post("/companies", raw=raw), 400)
    assert Company.objects.count() == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_it_refuses_a_body_that_is_not_sent_as_json(alice_api, content_type):
    before = Company.objects.count()
    raw = json.dumps({"name": "Carol", "country": "US"}).encode()
    response = alice_api.post("/companies", raw=raw, content_type=content_type)
    assert_error(response, 415)
    assert Company.objects.count() == before


def test_it_accepts_json_with_a_charset(alice_api):
    raw = json.dumps({"name": "Carol", "country": "US"}).encode()
    response = alice_api.post("/companies", raw=raw, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_it_refuses_a_body_over_the_limit(alice_api, alice, settings):
    settings.API_MAX_BODY_BYTES = 200
    before = Company.objects.count()
    response = alice_api.post(
        "/companies", {"name": "Carol", "country": "US", "description": "x" * 300}
    )
    assert_error(response, 413)
    assert Company.objects.count() == before
    items = [account_body(f"b-{n}") for n in range(5)]
    assert_error(alice_api.post(accounts_path(alice.connection) + "/batch", items), 413)
    assert alice_api.post("/companies", {"name": "Carol", "country": "US"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/nope", "/companies/", "/companies/{company}/nope", "/companies/{company}/connections/x/y"],
)
def test_it_answers_unknown_paths_with_a_json_404(alice_api, alice, path):
    response = alice_api.get(path.format(company=alice.company.pk))
    body = assert_error(response, 404)
    assert "text/html" not in response["Content-Type"]
    assert body["validation"] == {"errors": [], "warnings": []}


def test_it_answers_unknown_paths_with_a_json_404_without_a_key(client):
    response = client.get("/api/v1/nope")
    assert response.status_code in (401, 404)
    assert_error(response, response.status_code)


def test_it_answers_a_wrong_method_with_a_json_405(alice_api):
    response = alice_api.delete("/companies")
    body = assert_error(response, 405)
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed
    assert "DELETE" in body["error"]
    assert Company.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/companies/not-a-uuid",
        "/companies/12345",
        "/companies/{company}/connections/not-a-uuid",
        "/companies/not-a-uuid/connections/{connection}",
        "/companies/{company}/push/not-a-uuid",
        "/companies/{company}/connections/not-a-uuid/connectionInfo/bankFeedAccounts",
    ],
)
def test_it_answers_an_invalid_uuid_in_the_path_with_a_json_404(alice_api, alice, path):
    path = path.format(company=alice.company.pk, connection=alice.connection.pk)
    assert_error(alice_api.get(path), 404)


def test_it_answers_unknown_ids_with_404(alice_api, alice):
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(alice_api.get(f"/companies/{unknown}"), 404)
    assert_error(alice_api.get(f"/companies/{alice.company.pk}/connections/{unknown}"), 404)
    assert_error(alice_api.get(f"/companies/{alice.company.pk}/push/{unknown}"), 404)
    assert_error(alice_api.get(f"/companies/{unknown}/connections"), 404)


def test_every_api_response_carries_a_correlation_id(alice_api, alice):
    responses = [
        alice_api.get("/companies"),
        alice_api.get(company_path(alice.company)),
        alice_api.post("/companies", {"name": "Carol", "country": "US"}),
        alice_api.get(accounts_path(alice.connection)),
        alice_api.get("/openapi.json"),
        alice_api.get("/companies", {"page": 0}),
        alice_api.get("/nope"),
        alice_api.post("/companies", raw=b"{"),
        alice_api.delete("/companies"),
        Api(alice_api.client, "wrong").get("/companies"),
    ]
    ids = []
    for response in responses:
        assert response["X-Correlation-Id"]
        assert "text/html" not in response.get("Content-Type", "")
        assert response["Cache-Control"] == "no-store"
        if response.status_code >= 400:
            assert response.json()["correlationId"] == response["X-Correlation-Id"]
        ids.append(response["X-Correlation-Id"])
    assert len(set(ids)) == len(ids)


# Tenancy --------------------------------------------------------------------------------------


def _bob_targets(bob) -> dict:
    feed = link(bob.chequing)
    push = make_push(bob.chequing, status="Success")
    make_transaction(bob.chequing, "t-1", push=push)
    make_credentials(bob.connection, "BBBB-BBBB-BBBB")
    return {"feed": feed, "push": push}


TRANSACTIONS = {
    "accountId": "bob-chq",
    "transactions": [
        {"id": "t-2", "amount": 10, "description": "Deposit", "clearedOnDate": "{today}"}
    ],
}

FOREIGN_REQUESTS = [
    ("get", "{company}", None),
    ("patch", "{company}", {"name": "Hacked"}),
    ("delete", "{company}", None),
    ("post", "{company}/connections", {"platformKey": "hcws"}),
    ("get", "{company}/connections", None),
    ("get", "{connection}", None),
    ("patch", "{connection}", {"status": "Unlinked"}),
    ("delete", "{connection}", None),
    ("post", "{accounts}", account_body("hack-1")),
    ("get", "{accounts}", None),
    ("post", "{accounts}/batch", [account_body("hack-2")]),
    ("get", "{accounts}/bob-chq", None),
    ("patch", "{accounts}/bob-chq", {"accountName": "Hacked"}),
    ("delete", "{accounts}/bob-chq", None),
    ("post", "{accounts}/credentials", {}),
    ("delete", "{accounts}/credentials", None),
    ("get", "{accounts}/bob-chq/bankTransactions", None),
    ("post", "{connection}/push/bankAccounts/bob-chq/bankTransactions", TRANSACTIONS),
    ("get", "{company}/push", None),
    ("get", "{company}/push/{push}", None),
    # Alice's own company with bob's connection.
    ("get", "{alice_company}/connections/{bob_connection_id}", None),
    ("delete", "{alice_company}/connections/{bob_connection_id}", None),
    (
        "get",
        "{alice_company}/connections/{bob_connection_id}/connectionInfo/bankFeedAccounts",
        None,
    ),
    (
        "post",
        "{alice_company}/connections/{bob_connection_id}/connectionInfo/bankFeedAccounts"
        "/credentials",
        {},
    ),
    ("get", "{alice_company}/push/{push}", None),
]


def _snapshot(bob) -> dict:
    return {
        "company": list(Company.objects.filter(pk=bob.company.pk).values()),
        "connections": list(Connection.objects.filter(company=bob.company).values()),
        "accounts": list(SourceAccount.objects.filter(connection__company=bob.company).values()),
        "feeds": list(
            Feed.objects.filter(source_account__connection__company=bob.company).values()
        ),
        "credentials": list(CredentialSet.objects.filter(connection__company=bob.company).values()),
        "pushes": list(PushOperation.objects.filter(company=bob.company).values()),
        "transactions": list(
            BankTransaction.objects.filter(source_account__connection__company=bob.company).values()
        ),
        "audit": AuditEvent.objects.filter(company_id=bob.company.pk).count(),
    }


@pytest.mark.parametrize(
    ("method", "template", "body"),
    FOREIGN_REQUESTS,
    ids=[f"{m}-{t}" for m, t, _ in FOREIGN_REQUESTS],
)
def test_it_answers_404_for_another_clients_objects(alice_api, alice, bob, method, template, body):
    targets = _bob_targets(bob)
    company = f"/companies/{bob.company.pk}"
    connection = connection_path(bob.connection)
    path = template.format(
        company=company,
        connection=connection,
        accounts=accounts_path(bob.connection),
        push=targets["push"].key,
        alice_company=f"/companies/{alice.company.pk}",
        bob_connection_id=bob.connection.pk,
    )
    if body is not None:
        body = json.loads(json.dumps(body).replace("{today}", timezone.localdate().isoformat()))
    before = _snapshot(bob)
    if method in ("get", "delete"):
        response = getattr(alice_api, method)(path)
    else:
        response = getattr(alice_api, method)(path, body)
    assert_error(response, 404)
    assert _snapshot(bob) == before
    # The same request with bob's own key reaches his objects (the path itself is right).
    if "alice_company" not in template and method == "get":
        assert Api(alice_api.client, issue_key("bob")).get(path).status_code == 200


def test_it_never_lists_another_clients_companies(alice_api, alice, bob):
    for n in range(3):
        make_company(f"Bob {n}", "CA", client="bob")
    body = alice_api.get("/companies", {"pageSize": 5000}).json()
    assert body["totalResults"] == 1
    assert [c["id"] for c in body["results"]] == [str(alice.company.pk)]


def test_a_company_created_by_one_client_is_invisible_to_another(alice_api, bob_api):
    created = alice_api.post("/companies", {"name": "Carol", "country": "US"}).json()
    assert_error(bob_api.get(f"/companies/{created['id']}"), 404)
    bob_ids = [c["id"] for c in bob_api.get("/companies").json()["results"]]
    assert created["id"] not in bob_ids


def test_a_clients_companies_survive_key_rotation(client, alice, enabled):
    first = issue_key("alice")
    ApiKey.objects.update(revoked=timezone.now())
    second = Api(client, issue_key("alice"))
    assert [c["id"] for c in second.get("/companies").json()["results"]] == [str(alice.company.pk)]
    assert first != second.key


# Query counts ---------------------------------------------------------------------------------


def _count(callable_) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        response = callable_()
    assert response.status_code == 200
    return len(queries)


# Measured on SQLite: the key (1), then count and page (2), or the connection (1), its accounts
# (1) and their feeds (1); one more for the first request of a key, which records `last_used`.
COMPANY_LIST_QUERIES = 3
ACCOUNT_LIST_QUERIES = 4
PUSH_LIST_QUERIES = 4
MARGIN = 1


def test_the_company_list_costs_a_fixed_number_of_queries(
    alice_api, alice, django_assert_max_num_queries
):
    for n in range(29):
        make_company(f"Alice {n}", "US", client="alice")
    with django_assert_max_num_queries(COMPANY_LIST_QUERIES + 1 + MARGIN):
        cold = alice_api.get("/companies")  # also writes the key's last_used
    assert len(cold.json()["results"]) == 30
    with django_assert_max_num_queries(COMPANY_LIST_QUERIES + MARGIN):
        response = alice_api.get("/companies")
    assert len(response.json()["results"]) == 30


def test_the_account_list_costs_the_same_for_1_or_40_accounts(
    alice_api, alice, django_assert_max_num_queries
):
    small = make_connection(alice.company)
    link(make_account(small, "only-1"))
    large = make_connection(alice.company)
    for n in range(40):
        account = make_account(large, f"acc-{n}")
        if n % 3 == 0:
            link(account)
    alice_api.get("/companies")  # the key's last_used is written once, not here
    one = _count(lambda: alice_api.get(accounts_path(small)))
    forty = _count(lambda: alice_api.get(accounts_path(large)))
    assert one == forty
    with django_assert_max_num_queries(ACCOUNT_LIST_QUERIES + MARGIN):
        response = alice_api.get(accounts_path(large))
    assert len(response.json()) == 40
    assert sum(a["status"] == "connected" for a in response.json()) == 14
    assert sum(a["targetAccountName"] is not None for a in response.json()) == 14


def test_the_push_list_costs_a_fixed_number_of_queries(
    alice_api, alice, django_assert_max_num_queries
):
    link(alice.checking)
    alice_api.get("/companies")
    make_push(alice.checking, status="Success", transaction_count=1)
    one = _count(lambda: alice_api.get(f"/companies/{alice.company.pk}/push"))
    for _ in range(24):
        make_push(alice.checking, status="Success", transaction_count=1)
    with django_assert_max_num_queries(PUSH_LIST_QUERIES + MARGIN):
        response = alice_api.get(f"/companies/{alice.company.pk}/push")
    assert response.json()["totalResults"] == 25
    assert len(response.json()["results"]) == 25
    assert _count(lambda: alice_api.get(f"/companies/{alice.company.pk}/push")) == one


# OpenAPI and docs -----------------------------------------------------------------------------

BASE = "/api/v1/companies/{companyId}/connections/{connectionId}"
ACCOUNTS = BASE + "/connectionInfo/bankFeedAccounts"
DOCUMENTED = {
    "/api/v1/companies": {"get", "post"},
    "/api/v1/companies/{companyId}": {"get", "patch", "delete"},
    "/api/v1/companies/{companyId}/connections": {"get", "post"},
    BASE: {"get", "patch", "delete"},
    ACCOUNTS: {"get", "post"},
    ACCOUNTS + "/batch": {"post"},
    ACCOUNTS + "/{accountId}": {"patch", "delete"},
    ACCOUNTS + "/credentials": {"post", "delete"},
    BASE + "/push/bankAccounts/{accountId}/bankTransactions": {"post"},
    "/api/v1/companies/{companyId}/push": {"get"},
    "/api/v1/companies/{companyId}/push/{pushOperationKey}": {"get"},
    ACCOUNTS + "/{accountId}/bankTransactions": {"get"},
}


def test_the_openapi_document_has_every_endpoint(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    for path, methods in DOCUMENTED.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), (path, set(document["paths"][path]))
    delete = document["paths"][ACCOUNTS + "/{accountId}"]["delete"]
    text = (delete.get("description", "") + delete.get("summary", "")).lower()
    assert "not" in text and "qbo" in text
    schemes = document["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"bearer", "basic"}


def test_the_docs_page_uses_only_local_files(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert not re.search(r"https?://(?!testserver[/:\"'])", html), re.findall(r"https?://\S+", html)
    assert "//cdn" not in html
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls
    for url in urls:
        assert url.startswith("/static/"), url
        static = client.get(url)
        assert static.status_code == 200, url
        assert b"".join(static.streaming_content if static.streaming else [static.content])
        static.close()


def test_an_error_carries_the_hosted_services_full_shape(alice_api):
    body = assert_error(alice_api.get("/companies/00000000-0000-0000-0000-000000000000"), 404)
    assert (body["service"], body["canBeRetried"], body["detailedErrorCode"]) == (
        "LinksiteApi",
        "False",
        40400,
    )


def test_transient_errors_say_they_can_be_retried_and_others_do_not(rf):
    from feeds.api import errors

    request = rf.get("/api/v1/companies")
    retried = {code: errors.body(request, code, "x")["canBeRetried"] for code in (429, 500, 503)}
    refused = {code: errors.body(request, code, "x")["canBeRetried"] for code in (400, 404, 409)}
    assert set(retried.values()) == {"True"} and set(refused.values()) == {"False"}
    assert errors.body(request, 503, "x")["detailedErrorCode"] == 50300


def test_the_documented_error_shape_requires_every_field_of_the_hosted_services(client):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["Error"]
    assert set(schema["required"]) == {
        "statusCode",
        "service",
        "error",
        "correlationId",
        "validation",
        "canBeRetried",
        "detailedErrorCode",
    }
    assert schema["properties"]["canBeRetried"]["type"] == "string"
    assert schema["properties"]["detailedErrorCode"]["type"] == "integer"


def test_a_paged_list_links_to_its_pages_and_following_next_keeps_the_page_size(alice_api, alice):
    for n in range(4):  # five in all: three pages of two
        Company.objects.create(client=alice.company.client, name=f"Extra {n}", country="US")
    first = alice_api.get("/companies", {"pageSize": 2}).json()
    links = first["_links"]
    assert set(links) == {"self", "current", "next"}
    assert links["self"]["href"].endswith("/api/v1/companies?pageSize=2")
    assert links["current"]["href"].endswith("/api/v1/companies?pageSize=2&page=1")
    following = urlsplit(links["next"]["href"])
    second = alice_api.client.get(
        f"{following.path}?{following.query}", headers=alice_api.headers()
    ).json()
    assert (second["pageNumber"], second["pageSize"]) == (2, 2)
    assert {c["id"] for c in second["results"]}.isdisjoint(c["id"] for c in first["results"])
    assert set(second["_links"]) == {"self", "current", "next", "previous"}
    assert parse_qs(urlsplit(second["_links"]["previous"]["href"]).query)["page"] == ["1"]
