"""Money, dates and times for people, with Babel (CLDR), for the active language and the
company's country: `1 234,56 $` in Canadian French, `$1,234.56` for a US company in English.
French is always Canadian French here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from django.utils import timezone
from django.utils.translation import get_language


def babel_locale(country: str = "CA", language: str | None = None) -> str:
    language = (language or get_language() or "en").lower()
    if language.startswith("fr"):
        return "fr_CA"
    return "en_US" if country == "US" else "en_CA"


def money(amount: Decimal, currency: str, country: str = "CA") -> str:
    return format_currency(amount, currency, locale=babel_locale(country))


def long_date(value: dt.date, country: str = "CA") -> str:
    return format_date(value, format="long", locale=babel_locale(country))


def short_time(value: dt.datetime, country: str = "CA") -> str:
    """A time of day in the deployment's time zone. French writes `7 h 05`, not CLDR's `07 h 05`
    (Office québécois de la langue française)."""
    locale = babel_locale(country)
    pattern = "H 'h' mm" if locale.startswith("fr") else "short"
    return format_time(timezone.localtime(value), format=pattern, locale=locale)
