"""Changes to a company that other rules depend on, each with its audit event."""

from __future__ import annotations

from django.db import transaction

from accounts.audit import Actor, record
from accounts.models import Company, Country


def set_country(company: Company, country: str, *, actor: Actor, note: str = "") -> bool:
    """Record where the business is located (US or CA): "unknown" is where a company starts,
    never where it goes back to. The row changes only if it still holds the country `company`
    was read with, so an answer on the Link pages never overwrites the client's PATCH made
    meanwhile; False (and `company` refreshed) when it did not change."""
    if country not in Country.values:
        raise ValueError(f"country must be one of {Country.values}, not {country!r}")
    with transaction.atomic():
        changed = Company.objects.filter(pk=company.pk, country=company.country).update(
            country=country
        )
        if not changed:
            company.refresh_from_db(fields=["country"])
            return False
        company.country = country
        data = {"country": country, **({"note": note} if note else {})}
        record(actor, "company.updated", company, **data)
    return True
