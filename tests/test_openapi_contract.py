"""The client API's OpenAPI document against the hosted service's published one (issue 13): no
missing operation, operationId, status code or required field on the operations a QBO bank feed
uses (see `tests/openapi_diff.py`), and every linksite addition marked as an extension."""

from __future__ import annotations

import copy

import pytest
from django.db import OperationalError

from tests import openapi_diff
from tests.openapi_diff import QBO_OPERATIONS, check_operation, extension_problems

# What the diff may find, word for word: nothing. A difference accepted on purpose would be listed
# here, and a line the diff no longer reports makes the operation's test fail, so this list cannot
# go stale.
KNOWN_GAPS: set[str] = set()


@pytest.fixture(scope="module")
def published():
    return openapi_diff.published_document()


@pytest.fixture(scope="module")
def ours():
    return openapi_diff.our_document()


@pytest.mark.parametrize("operation_id", QBO_OPERATIONS)
def test_the_operation_gives_clients_of_the_hosted_service_all_they_expect(
    published, ours, operation_id
):
    found = set(check_operation(published, ours, operation_id))
    known = {gap for gap in KNOWN_GAPS if gap.startswith(operation_id + ":")}
    assert sorted(found - known) == [], "new problems"
    assert sorted(known - found) == [], "fixed: remove from KNOWN_GAPS"


def test_every_known_gap_names_a_qbo_operation():
    assert {gap.split(":", 1)[0] for gap in KNOWN_GAPS} <= set(QBO_OPERATIONS)


def test_every_operation_has_a_published_or_our_own_kebab_case_id(ours):
    ids = [operation["operationId"] for _, _, _, operation in openapi_diff.operations(ours)]
    assert len(ids) == len(set(ids))
    assert all(i.replace("-", "").isalpha() and i.islower() for i in ids), ids


def test_every_extension_is_marked(published, ours):
    assert extension_problems(published, ours) == []


def test_the_extensions_named_in_the_issue_carry_the_marker(ours):
    marker = openapi_diff.MARKER
    paths = {
        operation["operationId"]: operation for _, _, _, operation in openapi_diff.operations(ours)
    }
    assert paths["get-source-account"][marker] is True
    assert paths["list-bank-transactions"][marker] is True
    assert marker not in paths["list-source-accounts"]
    (key,) = [p for p in paths["create-bank-transactions"]["parameters"] if p["in"] == "header"]
    assert (key["name"], key[marker]) == ("Idempotency-Key", True)
    schemas = ours["components"]["schemas"]
    assert schemas["CredentialsOut"]["properties"]["expiresOnUtc"][marker] is True
    assert schemas["SourceAccountOut"]["properties"]["targetAccountName"][marker] is True
    assert schemas["SourceAccountOut"]["properties"]["feedDisabledOnUtc"][marker] is True
    assert schemas["PushOperationOut"]["properties"]["transactionCount"][marker] is True
    assert marker not in schemas["SourceAccountOut"]["properties"]["accountName"]


def test_our_extra_error_statuses_are_documented_per_operation(ours):
    paths = {
        operation["operationId"]: {str(code) for code in operation["responses"]}
        for _, _, _, operation in openapi_diff.operations(ours)
    }
    assert {"409", "413", "415", "422"} <= paths["create-bank-transactions"]
    assert {"409", "413", "415"} <= paths["create-source-account"]
    assert "409" in paths["create-source-account"]
    assert "413" not in paths["get-company"]


def test_a_status_linksite_never_returns_says_so(ours):
    responses = ours["paths"]["/api/v1/companies/{companyId}"]["get"]["responses"]
    assert "never returned" in responses[402]["description"].lower()
    assert "never returned" in responses[403]["description"].lower()
    assert responses[503]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_the_checker_finds_a_missing_required_field_and_status(published, ours):
    doctored = copy.deepcopy(ours)
    company = doctored["components"]["schemas"]["CompanyOut"]
    company["required"].remove("name")
    del doctored["paths"]["/api/v1/companies/{companyId}"]["get"]["responses"][401]
    found = check_operation(published, doctored, "get-company")
    assert "get-company: 200: does not require 'name'" in found
    assert "get-company: status 401 is not documented" in found
    del company["properties"]["id"]
    found = check_operation(published, doctored, "get-company")
    assert "get-company: 200: lacks required 'id'" in found


def test_the_checker_finds_a_body_field_not_accepted_and_an_unmarked_extension(published, ours):
    doctored = copy.deepcopy(ours)
    schemas = doctored["components"]["schemas"]
    del schemas["CreateBankTransactions"]["properties"]["accountId"]
    del schemas["SourceAccountOut"]["properties"]["targetAccountName"][openapi_diff.MARKER]
    found = check_operation(published, doctored, "create-bank-transactions")
    assert "create-bank-transactions: body: does not accept published 'accountId'" in found
    assert any(
        "'targetAccountName' is ours only" in p for p in extension_problems(published, doctored)
    )


def test_a_database_that_is_unavailable_gets_503(alice_api, alice, monkeypatch):
    def unavailable(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("feeds.api.common.company_or_404", unavailable)
    response = alice_api.get(f"/companies/{alice.company.pk}")
    assert response.status_code == 503
    body = response.json()
    assert (body["statusCode"], body["canBeRetried"]) == (503, "True")
