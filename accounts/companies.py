"""Changes to a company that other rules depend on, each with its audit event."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit import Actor, record
from accounts.models import Company, Country

# A company's tags, as the hosted service bounds them.
MAX_TAGS = 10
MAX_TAG_KEY = 27
MAX_TAG_VALUE = 100


def tags_problem(tags: Any) -> str | None:
    """What is wrong with `tags` (an object of at most MAX_TAGS string pairs, keys of 1 to
    MAX_TAG_KEY characters, values of at most MAX_TAG_VALUE), or None."""
    if not isinstance(tags, dict):
        return _("Tags must be an object of key-value pairs.")
    if len(tags) > MAX_TAGS:
        return _("At most %(n)d tags.") % {"n": MAX_TAGS}
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY:
            return _("A tag key has 1 to %(n)d characters.") % {"n": MAX_TAG_KEY}
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            return _("A tag value is text of at most %(n)d characters.") % {"n": MAX_TAG_VALUE}
    return None


def country_change_refused(current: str, new: str) -> str | None:
    """Why a company's country may not go from `current` to `new`: once known, it is never
    unknown again (credentials may have been issued on it). None when it may."""
    if current and not new:
        return _("A known country cannot be made unknown again; choose United States or Canada.")
    return None


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
