"""Helpers every API view uses: the caller's companies only, availability rules, paging, and the
JSON form of each object."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.audit import Actor
from accounts.models import ApiKey, Company
from feeds import availability
from feeds.api.errors import ApiError, field_error
from feeds.models import Connection, SourceAccount

# The JSON form of each object is the domain's (webhooks carry the same shapes); the views
# name them from here.
from feeds.representations import (  # noqa: F401
    account_json,
    company_json,
    connection_json,
    push_json,
    transaction_json,
)

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
