"""Changes to a company that other rules depend on, each with its audit event."""

from __future__ import annotations

from django.db import transaction

from accounts.audit import Actor, record
from accounts.models import Company, Country


def set_country(company: Company, country: str, *, actor: Actor, note: str = "") -> None:
    """Record where the business is located (US or CA). Only ever from unknown or another
    supported country: "unknown" is where a company starts, never where it goes back to."""
    if country not in Country.values:
        raise ValueError(f"country must be one of {Country.values}, not {country!r}")
    with transaction.atomic():
        company.country = country
        company.save(update_fields=["country"])
        data = {"country": country}
        if note:
            data["note"] = note
        record(actor, "company.updated", company, **data)
