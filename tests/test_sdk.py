"""The hosted service's own client against linksite: Codat's official Python SDK
(`codat-bankfeeds`, pinned in requirements-dev.txt), configured as its documentation says, with
nothing changed but `server_url`, over real HTTP to pytest-django's live server. The SDK's models
validate every answer, so a missing required field, a wrong status code or an unexpected shape
fails here as it would fail for a client moving from the hosted service.

The SMB user's part (the Link page's country question, QBO's linking) goes through linksite's own
surfaces: QBO's signed protocol through the sandbox's client."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from codat_bankfeeds import CodatBankFeeds
from codat_bankfeeds.models import errors, shared
from django.utils import timezone

from accounts.models import AuditEvent, OrganizationSettings
from feeds import link_urls
from feeds.models import BankTransaction, Connection, SourceAccount
from qbo_sandbox import linksite as qbo
from tests.conftest import issue_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(db):
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"integration_enabled": True, "institution_name": "Maple Bank"}
    )
    return issue_key("fintech")


@pytest.fixture
def server(live_server, settings):
    settings.LINKSITE_URL = live_server.url
    settings.SITE_URL = live_server.url
    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    return live_server.url


@pytest.fixture
def sdk(server, key):
    auth = "Basic " + base64.b64encode(key.encode()).decode()
    with CodatBankFeeds(
        security=shared.Security(auth_header=auth), server_url=f"{server}/api/v1"
    ) as client:
        yield client


def set_country(server: str, key: str, company_id: str, country: str) -> None:
    """linksite's extension: a company created without a country gets it by PATCH (or from the
    SMB user on the Link pages)."""
    answer = requests.patch(
        f"{server}/api/v1/companies/{company_id}",
        json={"country": country},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def link_in_qbo(username: str, password: str, account_ids: list[str]) -> dict[str, str]:
    """What QBO does when the SMB user types the credentials and presses Connect."""
    session = qbo.verify_credentials(username, password)
    answer = qbo.link_feeds(
        session["linkSessionId"],
        [
            {
                "sourceAccountId": account_id,
                "targetAccountId": str(100 + n),
                "targetAccountName": f"Bank {n}",
                "targetAccountType": "Bank",
                "feedStartDate": (timezone.localdate() - dt.timedelta(days=3)).isoformat(),
            }
            for n, account_id in enumerate(account_ids)
        ],
    )
    return {feed["sourceAccountId"]: feed["feedId"] for feed in answer["feeds"]}


V2_ACCOUNT = {
    "id": "chk-001",
    "accountName": "Operating account",
    "accountType": "checking",
    "accountNumber": "000123456789",
    "routingInfo": {"bankCode": "021000021", "type": "aba"},
    "currency": "USD",
    "balance": 1250.75,
    "accountInfo": {
        "description": "Main operating account",
        "nickname": "Ops",
        "accountOpenDate": "2021-05-06",
        "availableBalance": 1200.5,
    },
}
V1_ACCOUNT = {
    "id": "visa-002",
    "accountName": "Business Visa",
    "accountType": "creditCard",
    "accountNumber": "4111111111111111",
    "sortCode": None,
    "currency": "USD",
    "balance": -310.2,
}


def test_the_whole_qbo_journey_through_the_official_sdk(sdk, server, key):
    # Companies: created as the hosted service's body allows (no country), read, listed.
    company = sdk.companies.create(
        request={"name": "Maple Bakery", "description": "CRM 42", "tags": {"crm": "42"}}
    )
    assert company.name == "Maple Bakery" and company.tags == {"crm": "42"}
    assert company.redirect.startswith(f"{server}/link/company?token=")
    assert sdk.companies.get(request={"company_id": company.id}).description == "CRM 42"
    page = sdk.companies.list(request={"query": "name=Maple Bakery", "order_by": "-created"})
    assert [c.id for c in page.results] == [company.id] and page.total_results == 1
    assert requests.get(
        page.links.self_.href, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).json()["results"][0]["id"] == str(company.id)
    assert sdk.companies.list(request={"tags": "crm=42"}).total_results == 1
    assert sdk.companies.list(request={"tags": "crm=43"}).total_results == 0

    renamed = sdk.companies.update(
        request={"company_id": company.id, "company_update_request": {"name": "Maple Bakery Inc"}}
    )
    assert renamed.name == "Maple Bakery Inc" and renamed.tags == {"crm": "42"}
    replaced = sdk.companies.replace(
        request={"company_id": company.id, "company_request_body": {"name": "Maple Bakery"}}
    )
    assert (replaced.name, replaced.description, replaced.tags) == ("Maple Bakery", "", {})
    set_country(server, key, company.id, "US")

    # A connection, with the integration's identity and a Link URL.
    connection = sdk.connections.create(
        request={"company_id": company.id, "request_body": {"platform_key": "hcws"}}
    )
    assert connection.status == "PendingAuth" and connection.link_url.startswith(server)
    assert connection.integration_key == "hcws" and connection.source_id
    ids = {"company_id": company.id, "connection_id": connection.id}
    assert sdk.connections.get(request=ids).integration_id == connection.integration_id
    assert [c.id for c in sdk.connections.list(request={"company_id": company.id}).results] == [
        connection.id
    ]
    # The company's redirect leads to that connection's Link URL.
    entry = requests.get(company.redirect, timeout=10, allow_redirects=False)
    token = parse_qs(urlsplit(entry.headers["Location"]).query)["token"][0]
    assert entry.status_code == 302 and str(link_urls.read_token(token).pk) == connection.id

    # Source accounts: the v2 body, the v1 body, a batch, the list, an update of the whole object.
    v2 = sdk.source_accounts.create(request={**ids, "request_body": V2_ACCOUNT})
    assert v2.routing_info.bank_code == "021000021" and v2.account_info.nickname == "Ops"
    assert v2.status == "pending" and v2.balance == Decimal("1250.75")
    v1 = sdk.source_accounts.create(request={**ids, "request_body": V1_ACCOUNT})
    assert v1.id == "visa-002"
    batch = sdk.source_accounts.create_batch(
        request={**ids, "request_body": [{**V2_ACCOUNT, "id": "sav-003", "accountType": "savings"}]}
    )
    assert [item.source_account_id for item in batch] == ["sav-003"]
    listed = sdk.source_accounts.list(request=ids)
    assert sorted(a.id for a in listed) == ["chk-001", "sav-003", "visa-002"]
    whole = next(a for a in listed if a.id == "visa-002")
    whole_v1 = {"id": whole.id, "accountName": "Business Visa Gold", "balance": -310.2}
    updated = sdk.source_accounts.update(
        request={**ids, "account_id": "visa-002", "source_account": whole_v1}
    )
    assert updated.account_name == "Business Visa Gold"
    sdk.source_accounts.delete(request={**ids, "account_id": "sav-003"})

    # Credentials, then QBO links both accounts.
    credentials = sdk.source_accounts.generate_credentials(request={**ids, "request_body": b"{}"})
    assert credentials.username and credentials.password
    feeds = link_in_qbo(credentials.username, credentials.password, ["chk-001", "visa-002"])
    assert set(feeds) == {"chk-001", "visa-002"}
    assert sdk.connections.get(request=ids).status == "Linked"

    # Transactions: a write that succeeds, its push operation, one that fails with a reason.
    today = timezone.localdate().isoformat()
    written = sdk.transactions.create(
        request={
            **ids,
            "account_id": "chk-001",
            "create_bank_transactions": {
                "account_id": "chk-001",
                "transactions": [
                    {
                        "id": "t-1",
                        "date_": f"{today}T00:00:00",
                        "amount": Decimal("-12.50"),
                        "description": "Coffee beans",
                        "balance": Decimal("1238.25"),
                    },
                    {"id": "t-2", "date_": today, "amount": Decimal("99"), "description": "Sale"},
                ],
            },
        }
    )
    assert written.status == "Success" and written.status_code == 200, written.validation
    operation = sdk.transactions.get_create_operation(
        request={"company_id": company.id, "push_operation_key": written.push_operation_key}
    )
    assert operation.status == "Success"
    operations = sdk.transactions.list_create_operations(
        request={"company_id": company.id, "query": "status=Success", "order_by": "-requestedOnUtc"}
    )
    assert [o.push_operation_key for o in operations.results] == [written.push_operation_key]
    assert BankTransaction.objects.filter(source_account__account_id="chk-001").count() == 2

    refused = sdk.transactions.create(
        request={
            **ids,
            "account_id": "chk-001",
            "create_bank_transactions": {
                "account_id": "chk-001",
                "transactions": [{"id": "t-3", "amount": Decimal("0"), "description": "Zero"}],
            },
        }
    )
    assert refused.status == "Failed" and refused.status_code == 400
    assert refused.validation.errors and refused.validation.errors[0].item_id

    # Typed errors: an unknown company.
    with pytest.raises(errors.ErrorMessage) as missing:
        sdk.companies.get(request={"company_id": "0a1b2c3d-0000-4000-8000-000000000000"})
    assert missing.value.data.status_code == 404 and missing.value.data.correlation_id

    # Revoking every credential set stops the feeds: the next write fails at once.
    sdk.source_accounts.delete_credentials(request=ids)
    stopped = sdk.transactions.create(
        request={
            **ids,
            "account_id": "visa-002",
            "create_bank_transactions": {
                "account_id": "visa-002",
                "transactions": [{"id": "t-4", "date_": today, "amount": -5, "description": "Fee"}],
            },
        }
    )
    assert stopped.status == "Failed"
    assert "feedDisconnected" in {e.validator_name for e in stopped.validation.errors}

    # Unlink (also when already unlinked), then delete: gone for the API, kept for the audit.
    assert sdk.connections.unlink(request={**ids, "request_body": {"status": "Unlinked"}})
    again = sdk.connections.unlink(request={**ids, "request_body": {"status": "Unlinked"}})
    assert again.status == "Unlinked"
    deleted = sdk.connections.delete(request=ids)
    assert deleted is None or getattr(deleted, "status", None) in (None, "Deauthorized")
    with pytest.raises(errors.ErrorMessage) as gone:
        sdk.connections.get(request=ids)
    assert gone.value.data.status_code == 404
    assert sdk.connections.list(request={"company_id": company.id}).total_results == 0
    assert Connection.objects.filter(pk=connection.id, deleted__isnull=False).exists()
    assert AuditEvent.objects.filter(object_id=str(connection.id), action="connection.deleted")

    sdk.companies.delete(request={"company_id": company.id})
    with pytest.raises(errors.ErrorMessage):
        sdk.companies.get(request={"company_id": company.id})
    assert not SourceAccount.objects.exists()


def test_the_sdk_gets_typed_errors_and_follows_the_pages(sdk, server, key):
    with pytest.raises(errors.ErrorMessage) as bad_name:
        sdk.companies.create(request={"name": " "})
    assert bad_name.value.data.status_code == 400
    assert bad_name.value.data.validation.errors[0].item_id == "name"
    assert bad_name.value.data.can_be_retried == "False"

    with pytest.raises(errors.ErrorMessage) as bad_query:
        sdk.companies.list(request={"query": "nmae=Maple"})
    assert bad_query.value.data.validation.errors[0].item_id == "query"

    for n in range(3):
        sdk.companies.create(request={"name": f"Company {n}"})
    first = sdk.companies.list(request={"page_size": 2, "order_by": "name"})
    assert [c.name for c in first.results] == ["Company 0", "Company 1"]
    assert first.links.previous is None and first.links.next is not None
    following = requests.get(
        first.links.next.href, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).json()
    assert [c["name"] for c in following["results"]] == ["Company 2"]
    assert "next" not in following["_links"]

    company = first.results[0]
    with pytest.raises(errors.ErrorMessage) as no_connection:
        sdk.connections.get(
            request={
                "company_id": company.id,
                "connection_id": "0a1b2c3d-0000-4000-8000-0000000000ff",
            }
        )
    assert no_connection.value.data.status_code == 404
    # Credentials wait for the country (the Link pages ask for it): a 400 naming it. The hosted
    # document lists no 400 for this call, so the SDK raises its generic error with our body.
    connection = sdk.connections.create(
        request={"company_id": company.id, "request_body": {"platform_key": "hcws"}}
    )
    ids = {"company_id": company.id, "connection_id": connection.id}
    sdk.source_accounts.create(request={**ids, "request_body": V2_ACCOUNT})
    with pytest.raises(errors.SDKError) as no_country:
        sdk.source_accounts.generate_credentials(request={**ids, "request_body": b"{}"})
    assert no_country.value.status_code == 400
    body = json.loads(no_country.value.body)
    assert body["validation"]["errors"][0]["itemId"] == "country"
