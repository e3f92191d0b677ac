"""Helpers every API view uses: the caller's companies only, availability rules, paging, and the
JSON form of each object."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.audit import Actor
from accounts.models import ApiKey, Company
from feeds import availability, link_urls
from feeds.api.errors import ApiError, field_error
from feeds.models import BankTransaction, Connection, PushOperation, PushStatus, SourceAccount

MAX_PAGE_SIZE = 5000
DEFAULT_PAGE_SIZE = 100
CONTACT_ACCOUNT_MANAGER = (
    "The QuickBooks Online integration is not enabled for this deployment. Contact your account "
    "manager to have it switched on."
)


def api_key(request: HttpRequest) -> ApiKey:
    return request.auth  # type: ignore[attr-defined, return-value]


def actor(request: HttpRequest) -> Actor:
    return Actor.api_key(api_key(request))


def company_or_404(request: HttpRequest, company_id: uuid.UUID) -> Company:
    company = Company.objects.filter(pk=company_id, client_id=api_key(request).client_id).first()
    if company is None:
        raise ApiError(404, f"Company {company_id} not found.")
    return company


def connection_or_404(
    request: HttpRequest, company_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection:
    connection = (
        Connection.objects.select_related("company")
        .filter(
            pk=connection_id,
            company_id=company_id,
            company__client_id=api_key(request).client_id,
            deleted__isnull=True,
        )
        .first()
    )
    if connection is None:
        # One message whether the company or the connection is unknown or someone else's.
        company_or_404(request, company_id)
        raise ApiError(404, f"Connection {connection_id} not found in company {company_id}.")
    return connection


def account_or_404(connection: Connection, account_id: str, feeds: bool = True) -> SourceAccount:
    query = SourceAccount.objects.filter(connection=connection, account_id=account_id)
    account = (query.prefetch_related("feeds") if feeds else query).first()
    if account is None:
        raise ApiError(404, f"Source account {account_id!r} not found on this connection.")
    return account


def require_supported(company: Company) -> None:
    """Refuse a country we do not serve; an unknown one may still be given later."""
    if availability.country_refusal(company) == availability.COUNTRY:
        raise field_error(
            400,
            "country",
            "supportedCountry",
            f"Company country {company.country!r} is not supported: only companies in the US "
            "or Canada (country US or CA) can use QuickBooks Online bank feeds.",
        )


def require_country_known(company: Company) -> None:
    """Credentials wait for the country (`require_supported` refuses the others first)."""
    if availability.country_refusal(company) == availability.COUNTRY_UNKNOWN:
        raise field_error(
            400,
            "country",
            "countryRequired",
            f"Company {company.pk} has no country yet: set it with PATCH /companies/"
            f"{company.pk} (US or CA), or let the SMB user answer on the Link pages, then ask "
            "for credentials again.",
        )


def require_enabled() -> None:
    if not availability.integration_enabled():
        raise ApiError(403, CONTACT_ACCOUNT_MANAGER)


def require_not_deauthorized(connection: Connection) -> None:
    if availability.is_deauthorized(connection):
        raise ApiError(
            409,
            f"Connection {connection.pk} was deleted (Deauthorized); create a new connection.",
        )


def _page_href(request: HttpRequest, number: int) -> dict[str, str]:
    query = request.GET.copy()
    query["page"] = str(number)
    return {"href": request.build_absolute_uri(f"{request.path}?{query.urlencode()}")}


def page(
    request: HttpRequest, query: QuerySet, number: int, size: int, render: Any
) -> dict[str, Any]:
    """One page of `query`, with `_links` (self, current, and next/previous where they exist)
    that keep the request's other query parameters."""
    total = query.count()
    offset = (number - 1) * size
    rows = list(query[offset : offset + size]) if offset < total else []
    links = {
        "self": {"href": request.build_absolute_uri(request.get_full_path())},
        "current": _page_href(request, number),
    }
    if offset + size < total:
        links["next"] = _page_href(request, number + 1)
    if number > 1:
        links["previous"] = _page_href(request, number - 1)
    return {
        "results": [render(row) for row in rows],
        "pageNumber": number,
        "pageSize": size,
        "totalResults": total,
        "_links": links,
    }


# JSON forms -----------------------------------------------------------------------------------


def company_json(company: Company) -> dict[str, Any]:
    return {
        "id": company.pk,
        "name": company.name,
        "description": company.description,
        "tags": company.tags or {},
        "redirect": link_urls.company_url(company),
        "created": company.created,
        "country": company.country or None,
    }


def connection_json(connection: Connection) -> dict[str, Any]:
    return {
        "id": connection.pk,
        "companyId": connection.company_id,
        "integrationId": Connection.INTEGRATION_ID,
        "integrationKey": Connection.INTEGRATION_KEY,
        "sourceId": Connection.SOURCE_ID,
        "platformKey": connection.platform_key,
        "platformName": Connection.PLATFORM_NAME,
        "sourceType": Connection.SOURCE_TYPE,
        "status": connection.status,
        "created": connection.created,
        "linkUrl": link_urls.link_url(connection),
    }


def account_json(account: SourceAccount, feeds: list | None = None) -> dict[str, Any]:
    """Needs `feeds` prefetched (or costs a query), unless they are given."""
    if feeds is None:
        feeds = list(account.feeds.all())
    feeds = sorted(feeds, key=lambda f: f.created, reverse=True)
    newest = feeds[0] if feeds else None
    return {
        "id": account.account_id,
        "accountName": account.account_name,
        "accountType": account.account_type,
        "accountNumber": account.account_number,
        "routingNumber": account.routing_number or None,
        "sortCode": account.sort_code or None,
        "routingInfo": account.routing_info,
        "currency": account.currency,
        "balance": account.balance,
        "accountInfo": account.account_info,
        "status": account.status,
        "feedStartDate": newest.feed_start_date if newest else None,
        "modifiedDate": account.modified,
        # Empty for a feed a pull made: QBO does not say which of its accounts it feeds.
        "targetAccountName": (newest.target_account_name or None) if newest else None,
        "feedDisabledOnUtc": newest.disabled_on_utc if newest else None,
    }


STATUS_CODES = {PushStatus.PENDING: 202, PushStatus.SUCCESS: 200, PushStatus.FAILED: 400}


def push_json(operation: PushOperation) -> dict[str, Any]:
    validation = operation.validation or {}
    return {
        "pushOperationKey": operation.key,
        "companyId": operation.company_id,
        "dataConnectionKey": operation.connection_id,
        "accountId": operation.account_id,
        "dataType": "bankTransactions",
        "status": operation.status,
        "statusCode": STATUS_CODES[operation.status],
        "requestedOnUtc": operation.requested_on_utc,
        "completedOnUtc": operation.completed_on_utc,
        "errorMessage": operation.error_message or None,
        "validation": {
            "errors": validation.get("errors", []),
            "warnings": validation.get("warnings", []),
        },
        "transactionCount": operation.transaction_count,
    }


def transaction_json(row: BankTransaction) -> dict[str, Any]:
    return {
        "id": row.transaction_id,
        "date": row.date,
        "clearedOnDate": row.cleared_on_date,
        "amount": row.amount,
        "description": row.description,
        "transactionType": row.transaction_type,
        "balance": row.balance,
        "createdOnUtc": row.created,
        "pushOperationKey": row.push_operation_id,
        "deliveryState": row.delivery_state,
        "deliveredOnUtc": row.delivered,
    }
