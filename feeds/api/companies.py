"""Companies and their data connections."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from accounts.audit import record
from accounts.models import Company
from feeds import connection_rules, lifecycle
from feeds.api import common, json_body, whole_object
from feeds.api import query as listing
from feeds.api.errors import field_error
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
from feeds.models import Connection

router = Router(tags=["Companies and connections"])


class Paging(Schema):
    page: int = Field(1, ge=1, description="From 1.")
    pageSize: int = Field(
        common.DEFAULT_PAGE_SIZE, ge=1, le=common.MAX_PAGE_SIZE, description="At most 5000."
    )


class CompanyList(Paging):
    query: str | None = listing.query_param(listing.COMPANY_FIELDS)
    orderBy: str | None = listing.order_param(listing.COMPANY_FIELDS)
    tags: str | None = listing.tags_param()


class ConnectionList(Paging):
    query: str | None = listing.query_param(listing.CONNECTION_FIELDS)
    orderBy: str | None = listing.order_param(listing.CONNECTION_FIELDS)


@router.post("/companies", response=responses({200: CompanyOut}, body=True))
def create_company(request: HttpRequest, payload: CompanyIn):
    """Create an SMB company. Only companies in the US or Canada are supported; without a
    `country`, the Link pages ask the SMB user where the business is located."""
    with transaction.atomic():
        company = Company.objects.create(
            client=common.api_key(request).client,
            name=payload.name,
            country=payload.country or "",
            description=payload.description or "",
            tags=payload.tags or {},
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
    rows = listing.apply_tags(rows, paging.tags)
    return common.page(request, rows, paging.page, paging.pageSize, common.company_json)


@router.get("/companies/{companyId}", response=responses({200: CompanyOut}))
def get_company(request: HttpRequest, companyId: uuid.UUID):
    return common.company_json(common.company_or_404(request, companyId))


def _save_company(request: HttpRequest, company: Company, changes: dict[str, Any]) -> None:
    changes = {name: value for name, value in changes.items() if getattr(company, name) != value}
    if not changes:
        return
    with transaction.atomic():
        for name, value in changes.items():
            setattr(company, name, value)
        company.save(update_fields=list(changes))
        record(common.actor(request), "company.updated", company, **changes)


@router.patch("/companies/{companyId}", response=responses({200: CompanyOut}, body=True))
def update_company(request: HttpRequest, companyId: uuid.UUID, payload: CompanyPatch):
    """Change the name, description, tags or country (US or CA). The whole company as read may
    be sent back: read-only fields must then be unchanged."""
    company = common.company_or_404(request, companyId)
    whole_object.refuse_changed(
        json_body.json_value(request),
        common.company_json(company),
        writable=set(CompanyPatch.model_fields),
        computed={"redirect"},
    )
    _save_company(request, company, payload.model_dump(exclude_unset=True, exclude_none=True))
    return common.company_json(company)


@router.put("/companies/{companyId}", response=responses({200: CompanyOut}, body=True))
def replace_company(request: HttpRequest, companyId: uuid.UUID, payload: CompanyIn):
    """Replace the name, description and tags: what the body leaves out is emptied. The
    country, which the hosted service's body does not have, is kept unless given."""
    company = common.company_or_404(request, companyId)
    changes = {
        "name": payload.name,
        "description": payload.description or "",
        "tags": payload.tags or {},
    }
    if payload.country:
        changes["country"] = payload.country
    _save_company(request, company, changes)
    return common.company_json(company)


@router.delete("/companies/{companyId}", response=responses({204: None}))
def delete_company(request: HttpRequest, companyId: uuid.UUID):
    """Delete the company with its connections, accounts and transactions, for good. Accounts
    already linked stay in QBO: that cannot be undone through the integration."""
    company = common.company_or_404(request, companyId)
    connection_rules.delete_company(company, actor=common.actor(request))
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
    rows = Connection.objects.filter(company=company, deleted__isnull=True).order_by(
        "-created", "-id"
    )
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
    response=responses({200: ConnectionOut}, 403, body=True),
)
def update_connection(
    request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID, payload: ConnectionPatch
):
    """Unlink: `{"status": "Unlinked"}`. From Linked, its feeds stop and the SMB user can link
    again later from a new Link URL; an Unlinked connection is answered as it is; a PendingAuth
    or Deauthorized one cannot be unlinked (403)."""
    connection = common.connection_or_404(request, companyId, connectionId)
    whole_object.refuse_changed(
        json_body.json_value(request),
        common.connection_json(connection),
        writable={"status"},
        computed={"linkUrl"},
    )
    try:
        connection_rules.unlink_requested(connection, actor=common.actor(request), reason="API")
    except lifecycle.IllegalTransition:
        raise field_error(
            403,
            "status",
            "unlinkFromLinked",
            f"Only a Linked connection can be unlinked; this one is {connection.status}.",
        ) from None
    return common.connection_json(connection)


@router.delete("/companies/{companyId}/connections/{connectionId}", response=responses({200: None}))
def delete_connection(request: HttpRequest, companyId: uuid.UUID, connectionId: uuid.UUID):
    """Delete the connection: it is deauthorized (its feeds stop, its credentials and Link URLs
    stop working) and from then on the API answers 404 for it, as the hosted service does. Its
    push operations stay listed with the company's; the rows and the audit trail are kept."""
    connection = common.connection_or_404(request, companyId, connectionId)
    connection_rules.delete(connection, actor=common.actor(request))
    return HttpResponse(status=200)
