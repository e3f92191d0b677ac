"""Source accounts (`bankFeedAccounts`) of a connection, and one-time credentials for QBO."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from feeds import credentials, source_accounts
from feeds.api import common, json_body, whole_object
from feeds.api.errors import ApiError, field_error
from feeds.api.responses import responses
from feeds.api.schemas import (
    BatchItem,
    CredentialsIn,
    CredentialsOut,
    SourceAccountIn,
    SourceAccountOut,
    SourceAccountPatch,
)
from feeds.api.validation import problems_from_pydantic
from feeds.models import CredentialOrigin, SourceAccount

router = Router(tags=["Source accounts and credentials"])
BASE = "/companies/{companyId}/connections/{connectionId}/connectionInfo/bankFeedAccounts"
MAX_BATCH = 1000


def _create(connection: Any, data: SourceAccountIn, request: HttpRequest) -> SourceAccount:
    """Raises IntegrityError for an id the connection already has."""
    routing = data.routingInfo
    routing_number = data.routingNumber
    if routing_number is None and routing is not None and routing.type in ("rtn", "aba"):
        routing_number = routing.bankCode
    return source_accounts.create_account(
        connection,
        actor=common.actor(request),
        account_id=data.id,
        account_name=data.accountName,
        account_type=data.accountType,
        account_number=data.accountNumber,
        routing_number=routing_number or "",
        sort_code=data.sortCode or "",
        currency=data.currency,
        balance=data.balance,
        routing_info=routing.model_dump(mode="json") if routing else None,
        account_info=data.accountInfo.model_dump(mode="json") if data.accountInfo else None,
    )


def _duplicate(account_id: str) -> ApiError:
    return field_error(
        409,
        "id",
        "duplicateAccountId",
        f"A bank account already exists with the same Id ({account_id!r}).",
    )


@router.post(BASE, response=responses({200: SourceAccountOut}, 409, body=True))
def create_account(
    request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID, payload: SourceAccountIn
):
    """Create one source account (status pending)."""
    connection = common.connection_or_404(request, companyId, connectionId)
    common.require_supported(connection.company)
    common.require_not_deauthorized(connection)
    try:
        account = _create(connection, payload, request)
    except IntegrityError:
        raise _duplicate(payload.id) from None
    return common.account_json(account, feeds=[])


@router.post(
    BASE + "/batch",
    response=responses({201: list[BatchItem], 207: list[BatchItem]}, 409, body=True),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_BATCH,
                        "items": {"$ref": "#/components/schemas/SourceAccountIn"},
                    }
                }
            },
        }
    },
)
def create_accounts(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """Create several source accounts. 201 when all were created, else 207 with one result per
    account (409 for an id that already exists, 400 for an invalid one)."""
    connection = common.connection_or_404(request, companyId, connectionId)
    common.require_supported(connection.company)
    common.require_not_deauthorized(connection)
    items = json_body.json_value(request)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise field_error(
            400, "body", "accountArray", f"The body must be an array of 1 to {MAX_BATCH} accounts."
        )
    results = []
    for index, raw in enumerate(items):
        item_id = (
            raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        )
        try:
            data = SourceAccountIn.model_validate(raw)
        except pydantic.ValidationError as exc:
            problems = problems_from_pydantic(exc.errors(), prefix=f"[{index}]")
            results.append(
                {
                    "sourceAccountId": item_id,
                    "result": {
                        "statusCode": 400,
                        "error": problems[0].message,
                        "account": None,
                        "validation": {"errors": [p.as_json() for p in problems], "warnings": []},
                    },
                }
            )
            continue
        try:
            account = _create(connection, data, request)
        except IntegrityError:
            results.append(
                {
                    "sourceAccountId": data.id,
                    "result": {
                        "statusCode": 409,
                        "error": _duplicate(data.id).message,
                        "account": None,
                    },
                }
            )
            continue
        results.append(
            {
                "sourceAccountId": data.id,
                "result": {
                    "statusCode": 200,
                    "error": None,
                    "account": common.account_json(account, feeds=[]),
                },
            }
        )
    status = 201 if all(r["result"]["statusCode"] == 200 for r in results) else 207
    return Status(status, results)


@router.post(BASE + "/credentials", response=responses({200: CredentialsOut}, 403, 409, body=True))
def create_credentials(
    request: HttpRequest,
    companyId: uuid.UUID,
    connectionId: uuid.UUID,
    payload: CredentialsIn | None = None,
):
    """A new one-time username and password covering all the connection's accounts, for the SMB
    user to enter in QBO. Shown once; valid for 60 minutes or one successful link. Earlier sets
    stay valid until they expire or are revoked."""
    connection = common.connection_or_404(request, companyId, connectionId)
    common.require_supported(connection.company)
    common.require_enabled()
    common.require_not_deauthorized(connection)
    common.require_country_known(connection.company)
    accounts = list(SourceAccount.objects.filter(connection=connection))
    if not accounts:
        raise ApiError(
            409, "The connection has no source accounts yet; create them before credentials."
        )
    credential_set, password = credentials.issue(
        connection, accounts, origin=CredentialOrigin.API, actor=common.actor(request)
    )
    return {
        "username": credential_set.username,
        "password": password,
        "expiresOnUtc": credential_set.expires,
        "sourceAccountIds": [a.account_id for a in accounts],
    }


@router.delete(BASE + "/credentials", response=responses({204: None}))
def revoke_credentials(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """Revoke every credential set of the connection, used or not; the feeds linked with them
    stop as if disconnected in QBO."""
    connection = common.connection_or_404(request, companyId, connectionId)
    credentials.revoke_all(connection, actor=common.actor(request))
    return HttpResponse(status=204)


@router.get(BASE, response=responses({200: list[SourceAccountOut]}))
def list_accounts(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """All source accounts of the connection with their status; once connected, their
    feedStartDate and target account."""
    connection = common.connection_or_404(request, companyId, connectionId)
    accounts = SourceAccount.objects.filter(connection=connection).prefetch_related("feeds")
    return [common.account_json(a) for a in accounts]


@router.get(BASE + "/{accountId}", response=responses({200: SourceAccountOut}))
def get_account(
    request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID, accountId: str
):
    connection = common.connection_or_404(request, companyId, connectionId)
    return common.account_json(common.account_or_404(connection, accountId))


@router.patch(BASE + "/{accountId}", response=responses({200: SourceAccountOut}, body=True))
def update_account(
    request: HttpRequest,
    companyId: uuid.UUID,
    connectionId: uuid.UUID,
    accountId: str,
    payload: SourceAccountPatch,
):
    """Rename the account, set its balance while it is not connected (once connected, the
    balance comes from the last written transaction), or set a connected account
    `disconnected` (its feed stops at once). The whole account as read may be sent back:
    read-only fields must then be unchanged. Changes never reach the QBO account."""
    connection = common.connection_or_404(request, companyId, connectionId)
    account = common.account_or_404(connection, accountId)
    whole_object.refuse_changed(
        json_body.json_value(request),
        common.account_json(account),
        writable=SourceAccountPatch.WRITABLE,
        computed={"modifiedDate"},
    )
    try:
        source_accounts.update_account(
            account,
            actor=common.actor(request),
            account_name=payload.accountName,
            balance=payload.balance,
            status=payload.status,
        )
    except source_accounts.AccountChangeRefused as exc:
        raise field_error(400, exc.field, exc.validator, exc.message) from None
    return common.account_json(common.account_or_404(connection, accountId))


@router.delete(BASE + "/{accountId}", response=responses({204: None}))
def delete_account(
    request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID, accountId: str
):
    """Delete the source account: its feed stops and its transactions not yet delivered are
    dropped. The account is **not** removed from QBO: that cannot be done through the
    integration; the SMB user removes it in QuickBooks if they wish."""
    connection = common.connection_or_404(request, companyId, connectionId)
    account = common.account_or_404(connection, accountId)
    source_accounts.delete_account(
        account, actor=common.actor(request), reason="source account deleted through the API"
    )
    return HttpResponse(status=204)
