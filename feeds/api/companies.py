"""Companies and their data connections."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from accounts.audit import record
from accounts.models import Company
from feeds import connection_rules, lifecycle
from feeds.api import common
from feeds.api import query as listing
from feeds.api.errors import ApiError, field_error
from feeds.api.responses import responses
from feeds.api.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyPage,
    CompanyPatch,
    ConnectionIn,
    ConnectionOut,
    ConnectionPage,
    ConnectionPatch,
)
from feeds.models import Connection, ConnectionStatus

router = Router(tags=["Companies and connections"])


class Paging(Schema):
    page: int = Field(1, ge=1, description="From 1.")
    pageSize: int = Field(
        common.DEFAULT_PAGE_SIZE, ge=1, le=common.MAX_PAGE_SIZE, description="At most 5000."
    )


class CompanyList(Paging):
    query: str | None = listing.query_param(listing.COMPANY_FIELDS)
    orderBy: str | None = listing.order_param(listing.COMPANY_FIELDS)


class ConnectionList(Paging):
    query: str | None = listing.query_param(listing.CONNECTION_FIELDS)
    orderBy: str | None = listing.order_param(listing.CONNECTION_FIELDS)


@router.post("/companies", response=responses({200: CompanyOut}, body=True))
def create_company(request: HttpRequest, payload: CompanyIn):
    """Create an SMB company. Only companies in the US or Canada are supported; without a
    country, the Link pages ask for it and credentials wait for it."""
    with transaction.atomic():
        company = Company.objects.create(
            client=common.api_key(request).client,
            name=payload.name,
            country=payload.country or "",
            description=payload.description,
        )
        record(common.actor(request), "company.created", company, name=company.name)
    return common.company_json(company)


@router.get("/companies", response=responses({200: CompanyPage}), by_alias=True)
def list_companies(request: HttpRequest, paging: Query[CompanyList]):
    """The caller's companies, newest first unless `orderBy` says otherwise."""
    rows = Company.objects.filter(client_id=common.api_key(request).client_id).order_by(
        "-created", "-id"
    )
    rows = listing.apply(rows, listing.COMPANY_FIELDS, paging.query, paging.orderBy)
    return common.page(request, rows, paging.page, paging.pageSize, common.company_json)


@router.get("/companies/{companyId}", response=responses({200: CompanyOut}))
def get_company(request: HttpRequest, companyId: uuid.UUID):
    return common.company_json(common.company_or_404(request, companyId))


@router.patch("/companies/{companyId}", response=responses({200: CompanyOut}, body=True))
def update_company(request: HttpRequest, companyId: uuid.UUID, payload: CompanyPatch):
    """Change the name, description or country (US or CA)."""
    company = common.company_or_404(request, companyId)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    with transaction.atomic():
        for name, value in changes.items():
            setattr(company, name, value)
        if changes:
            company.save(update_fields=list(changes))
            record(common.actor(request), "company.updated", company, **changes)
    return common.company_json(company)


@router.delete("/companies/{companyId}", response=responses({204: None}))
def delete_company(request: HttpRequest, companyId: uuid.UUID):
    """Delete the company with its connections, accounts and transactions, for good. Accounts
    already linked stay in QBO: that cannot be undone through the integration."""
    company = common.company_or_404(request, companyId)
    with transaction.atomic():
        record(common.actor(request), "company.deleted", company, name=company.name)
        company.delete()
    return HttpResponse(status=204)


@router.post(
    "/companies/{companyId}/connections",
    response=responses({200: ConnectionOut}, 403, body=True),
)
def create_connection(request: HttpRequest, companyId: uuid.UUID, payload: ConnectionIn):
    """Create a QuickBooks Online bank-feeds connection (status PendingAuth). Its linkUrl is
    where the SMB user chooses accounts and gets credentials for QBO."""
    company = common.company_or_404(request, companyId)
    common.require_supported(company)
    common.require_enabled()
    connection = connection_rules.open_connection(company, actor=common.actor(request))
    return common.connection_json(connection)


@router.get(
    "/companies/{companyId}/connections", response=responses({200: ConnectionPage}), by_alias=True
)
def list_connections(request: HttpRequest, companyId: uuid.UUID, paging: Query[ConnectionList]):
    """The company's connections, newest first unless `orderBy` says otherwise."""
    company = common.company_or_404(request, companyId)
    rows = Connection.objects.filter(company=company).order_by("-created", "-id")
    rows = listing.apply(rows, listing.CONNECTION_FIELDS, paging.query, paging.orderBy)
    return common.page(request, rows, paging.page, paging.pageSize, common.connection_json)


@router.get(
    "/companies/{companyId}/connections/{connectionId}",
    response=responses({200: ConnectionOut}),
)
def get_connection(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """The connection, with a fresh linkUrl valid for one hour."""
    return common.connection_json(common.connection_or_404(request, companyId, connectionId))


@router.patch(
    "/companies/{companyId}/connections/{connectionId}",
    response=responses({200: ConnectionOut}, 409, body=True),
)
def update_connection(
    request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID, payload: ConnectionPatch
):
    """Unlink: `{"status": "Unlinked"}`, only from Linked. Feeds stop; the SMB user can link
    again later from a new Link URL."""
    connection = common.connection_or_404(request, companyId, connectionId)
    if connection.status != ConnectionStatus.LINKED:
        raise field_error(
            409,
            "status",
            "unlinkFromLinked",
            f"Only a Linked connection can be unlinked; this one is {connection.status}.",
        )
    try:
        connection_rules.unlink(connection, actor=common.actor(request), reason="API")
    except lifecycle.IllegalTransition as exc:
        raise ApiError(409, str(exc)) from None
    return common.connection_json(connection)


@router.delete("/companies/{companyId}/connections/{connectionId}", response=responses({204: None}))
def delete_connection(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """Deauthorize the connection: its feeds stop, unused credentials and Link URLs stop working,
    and it cannot be linked again (create a new connection). It stays readable, with status
    Deauthorized, with its accounts, transactions and push operations."""
    connection = common.connection_or_404(request, companyId, connectionId)
    connection_rules.deauthorize(connection, actor=common.actor(request), reason="API")
    return HttpResponse(status=204)
