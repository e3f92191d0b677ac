"""The JSON form of each object, as the API returns it and webhooks carry it: Python values
(datetimes, decimals, UUIDs) that the API's schemas serialize, and `jsonable` turns into plain
JSON for a webhook's body."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from accounts.models import Company
from feeds import link_urls
from feeds.models import BankTransaction, Connection, PushOperation, PushStatus, SourceAccount


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


def jsonable(value: Any) -> Any:
    """A JSON form's values as plain JSON, the way the API's schemas write them: timestamps in
    ISO 8601 UTC with `Z`, dates `YYYY-MM-DD`, money as a number, UUIDs as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
