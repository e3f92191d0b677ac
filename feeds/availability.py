"""Whether a company or connection may use QuickBooks Online bank feeds now (`product.md` §2, §3):
the operator has switched the integration on, the company is in the US or Canada, and the client
has not deauthorized the connection. A company created without a country may open its connection
and set up accounts, but may not get credentials until the country is known (COUNTRY_UNKNOWN).

One place for these rules; each surface turns a refusal into its own answer (the API's error
shape, a Link problem page, a QBO error)."""

from __future__ import annotations

from accounts.models import Company, Country, OrganizationSettings
from feeds.models import Connection, ConnectionStatus

# Read once: `Country.values` builds its list anew on every use.
SUPPORTED_COUNTRIES = tuple(Country.values)

DEAUTHORIZED = "deauthorized"
COUNTRY = "country"
UNAVAILABLE = "unavailable"
COUNTRY_UNKNOWN = "country_unknown"


def country_supported(company: Company) -> bool:
    """In the US or Canada; False while the country is unknown too (see `country_refusal`)."""
    return company.country in SUPPORTED_COUNTRIES


def country_refusal(company: Company) -> str | None:
    """COUNTRY for a country we do not serve, COUNTRY_UNKNOWN while none is recorded (the SMB
    user or the client may still give it), None for the US and Canada."""
    if country_supported(company):
        return None
    return COUNTRY if company.country_known else COUNTRY_UNKNOWN


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
    if country_refusal(company) == COUNTRY:
        return COUNTRY
    if not integration_enabled(org):
        return UNAVAILABLE
    return None


def refusal(connection: Connection, org: OrganizationSettings | None = None) -> str | None:
    """Why the connection may not be used now, the most lasting reason first: DEAUTHORIZED,
    COUNTRY, UNAVAILABLE or COUNTRY_UNKNOWN (the one an answer lifts); None when it may."""
    if is_deauthorized(connection):
        return DEAUTHORIZED
    country = country_refusal(connection.company)
    if country == COUNTRY:
        return COUNTRY
    if not integration_enabled(org):
        return UNAVAILABLE
    return country
