"""Writing bank transactions, push operations, and the transactions of an account."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from pydantic import Field

from feeds import idempotency, writes
from feeds.api import common, json_body
from feeds.api import query as listing
from feeds.api.companies import Paging
from feeds.api.errors import ApiError, field_error
from feeds.api.responses import responses
from feeds.api.schemas import (
    BankTransactionPage,
    DeliveryState,
    PushOperationOut,
    PushOperationPage,
)
from feeds.api.source_accounts import BASE as ACCOUNTS
from feeds.models import HISTORY_DAYS, BankTransaction, PushOperation

router = Router(tags=["Bank transactions and push operations"])

WRITE_DESCRIPTION = f"""
Write up to {writes.MAX_TRANSACTIONS} cleared transactions to one connected source account. The
request is validated at once and is all-or-nothing: the push operation answered with **200** is
`Success` (every transaction stored; the worker delivers them to QBO) or `Failed` (nothing stored;
one `validation.errors` item per problem). Rules:

- `accountId` in the body equals the path's; 1 to {writes.MAX_TRANSACTIONS} transactions.
- The account is `connected` and its feed was not disconnected in QuickBooks.
- Each transaction: `id` (1–100 characters, unique per account), a non-zero `amount` with at most
  2 decimal places, a `description` (1–1000 characters after trimming), `clearedOnDate` (or `date`
  for clients that send only `date`; a time of day and offset are ignored).
- `clearedOnDate` is on or before today in the deployment's time zone, not before the account's
  `feedStartDate`, and at most {HISTORY_DAYS} days back.
- Ascending `clearedOnDate` within the request, and not before the newest one already written to the
  account (the same day is fine).
- An `id` already written with the same content is skipped with a warning (safe retry); with other
  content it is an error: written transactions never change.
- A sign that contradicts `transactionType` is a warning. `counterparty`, `reference` and
  `reconciled` are ignored with a warning. The last transaction's `balance` becomes the account's.

Send an `Idempotency-Key` header (up to 128 characters) to retry safely: the same key and body
within 24 hours return the first push operation (header `Idempotent-Replayed: true`); the same key
with another body is refused with 422; while the first request still runs, 409 with `Retry-After`.

`validatorName` values: {", ".join(f"`{name}`" for name in writes.VALIDATORS)}.
"""


@router.post(
    "/companies/{companyId}/connections/{connectionId}/push/bankAccounts/{accountId}"
    "/bankTransactions",
    response=responses({200: PushOperationOut}, 403, 409, 422, body=True),
    description=WRITE_DESCRIPTION,
    summary="Write bank transactions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/CreateBankTransactions"}
                }
            },
        },
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                "description": "Retry safely: see above.",
            },
            {
                "in": "query",
                "name": "timeoutInMinutes",
                "required": False,
                "schema": {"type": "integer"},
                "description": "Accepted and ignored: a write is validated and stored within "
                "the request, so it never waits.",
            },
            {
                "in": "query",
                "name": "allowSyncOnPushComplete",
                "required": False,
                "schema": {"type": "boolean"},
                "description": "Accepted and ignored: linksite has nothing to sync after a write.",
            },
        ],
    },
)
def write_transactions(
    request: HttpRequest,
    response: HttpResponse,
    companyId: uuid.UUID,
    connectionId: uuid.UUID,
    accountId: str,
):
    connection = common.connection_or_404(request, companyId, connectionId)
    common.require_supported(connection.company)
    common.require_enabled()
    account = common.account_or_404(connection, accountId, feeds=False)
    body = json_body.json_object(request)
    try:
        operation, replayed = idempotency.write_once(
            account,
            body,
            path_account_id=accountId,
            actor=common.actor(request),
            client=common.api_key(request).client,
            key=request.headers.get("Idempotency-Key"),
            request_path=request.path,
        )
    except idempotency.InvalidKey as exc:
        raise field_error(400, "Idempotency-Key", "idempotencyKey", str(exc)) from None
    except idempotency.KeyReused as exc:
        raise field_error(422, "Idempotency-Key", "idempotencyKeyReused", str(exc)) from None
    except idempotency.KeyInFlight as exc:
        raise ApiError(
            409, str(exc), headers={"Retry-After": str(idempotency.RETRY_AFTER_SECONDS)}
        ) from None
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(200, common.push_json(operation))


class PushList(Paging):
    query: str | None = listing.query_param(listing.PUSH_FIELDS)
    orderBy: str | None = listing.order_param(listing.PUSH_FIELDS)


@router.get(
    "/companies/{companyId}/push", response=responses({200: PushOperationPage}), by_alias=True
)
def list_push_operations(request: HttpRequest, companyId: uuid.UUID, paging: Query[PushList]):
    """The company's push operations, newest first unless `orderBy` says otherwise."""
    company = common.company_or_404(request, companyId)
    rows = PushOperation.objects.filter(company=company).order_by("-requested_on_utc", "-key")
    rows = listing.apply(rows, listing.PUSH_FIELDS, paging.query, paging.orderBy)
    return common.page(request, rows, paging.page, paging.pageSize, common.push_json)


@router.get(
    "/companies/{companyId}/push/{pushOperationKey}", response=responses({200: PushOperationOut})
)
def get_push_operation(request: HttpRequest, companyId: uuid.UUID, pushOperationKey: uuid.UUID):
    company = common.company_or_404(request, companyId)
    operation = PushOperation.objects.filter(company=company, key=pushOperationKey).first()
    if operation is None:
        raise ApiError(404, f"Push operation {pushOperationKey} not found.")
    return common.push_json(operation)


class TransactionFilter(Paging):
    deliveryState: DeliveryState | None = Field(
        None, description="Only transactions in this delivery state."
    )
    query: str | None = listing.query_param(listing.TRANSACTION_FIELDS)
    orderBy: str | None = listing.order_param(listing.TRANSACTION_FIELDS)


@router.get(
    ACCOUNTS + "/{accountId}/bankTransactions",
    response=responses({200: BankTransactionPage}),
    by_alias=True,
)
def list_transactions(
    request: HttpRequest,
    companyId: uuid.UUID,
    connectionId: uuid.UUID,
    accountId: str,
    filters: Query[TransactionFilter],
):
    """The account's written transactions in clearedOnDate (then write) order unless `orderBy`
    says otherwise, with whether each was delivered to QBO yet."""
    connection = common.connection_or_404(request, companyId, connectionId)
    account = common.account_or_404(connection, accountId, feeds=False)
    rows = BankTransaction.objects.filter(source_account=account).order_by("cleared_on_date", "id")
    if filters.deliveryState:
        rows = rows.filter(delivery_state=filters.deliveryState)
    rows = listing.apply(rows, listing.TRANSACTION_FIELDS, filters.query, filters.orderBy)
    return common.page(request, rows, filters.page, filters.pageSize, common.transaction_json)
