"""Whether a company or connection may use QuickBooks Online bank feeds now (`product.md` §2, §3):
the operator has switched the integration on, the company is in the US or Canada, and the client
has not deauthorized the connection.

One place for these rules; each surface turns a refusal into its own answer (the API's error
shape, a Link problem page, a QBO error)."""

from __future__ import annotations

from accounts.models import Company, Country, OrganizationSettings
from feeds.models import Connection, ConnectionStatus

DEAUTHORIZED = "deauthorized"
COUNTRY = "country"
UNAVAILABLE = "unavailable"


def country_supported(company: Company) -> bool:
    return company.country in Country.values


def integration_enabled(org: OrganizationSettings | None = None) -> bool:
    """`org`: the settings the caller already read (saves a query)."""
    return (
        org.integration_enabled
        if org is not None
        else OrganizationSettings.integration_is_enabled()
    )


def is_deauthorized(connection: Connection) -> bool:
    return connection.status == ConnectionStatus.DEAUTHORIZED


def company_refusal(company: Company, org: OrganizationSettings | None = None) -> str | None:
    """Why the company may not start linking now: COUNTRY or UNAVAILABLE; None when it may
    (an unknown country is asked on the Link pages)."""
    if company.country_known and not country_supported(company):
        return COUNTRY
    if not integration_enabled(org):
        return UNAVAILABLE
    return None


def refusal(connection: Connection, org: OrganizationSettings | None = None) -> str | None:
    """Why the connection may not be used now, the most lasting reason first: DEAUTHORIZED,
    COUNTRY or UNAVAILABLE; None when it may."""
    if is_deauthorized(connection):
        return DEAUTHORIZED
    if not country_supported(connection.company):
        return COUNTRY
    if not integration_enabled(org):
        return UNAVAILABLE
    return None
