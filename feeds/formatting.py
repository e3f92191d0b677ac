"""Money, dates and times for people, with Babel (CLDR), for the active language and the
company's country: `1 234,56 $` in Canadian French, `$1,234.56` for a US company in English.
French is always Canadian French here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date, format_time, get_time_format
from babel.numbers import format_currency
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _


def babel_locale(country: str = "CA", language: str | None = None) -> str:
    language = (language or get_language() or "en").lower()
    if language.startswith("fr"):
        return "fr_CA"
    return "en_US" if country == "US" else "en_CA"


def money(amount: Decimal, currency: str, country: str = "CA") -> str:
    return _money(amount, currency, babel_locale(country))


@lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, locale: str) -> str:
    # A pure function of its arguments, and about 20 µs of Babel a call: the accounts screen
    # formats every balance on every view.
    return format_currency(amount, currency, locale=locale)


def long_date(value: dt.date, country: str = "CA") -> str:
    return format_date(value, format="long", locale=babel_locale(country))


def short_time(value: dt.datetime, country: str = "CA", *, zone: bool = False) -> str:
    """A time of day in the deployment's time zone, with the zone's abbreviation when `zone`
    (`2:26 PM EST`, `14 h 26 HNE`): a user elsewhere must not read it as their own time. French
    writes `7 h 05`, not CLDR's `07 h 05` (Office québécois de la langue française)."""
    locale = babel_locale(country)
    pattern = "H 'h' mm" if locale.startswith("fr") else get_time_format("short", locale).pattern
    if zone:
        pattern += " z"
    local = timezone.localtime(value)
    return format_time(local, format=pattern, tzinfo=local.tzinfo, locale=locale)


CARDS = {"creditCard"}


def balance(
    amount: Decimal, currency: str, account_type: str, country: str = "CA", *, locale: str = ""
) -> str:
    """An account's balance for its holder. On a credit card a negative balance is what is owed
    and a positive one a credit: `-$1,873.52` alone would be ambiguous there. `locale`:
    `babel_locale(country)`, when the caller formats many balances at once."""
    locale = locale or babel_locale(country)
    if account_type not in CARDS or not amount:
        return _money(amount, currency, locale)
    shown = _money(abs(amount), currency, locale)
    if amount < 0:
        return _("%(amount)s owed") % {"amount": shown}
    return _("%(amount)s credit") % {"amount": shown}
