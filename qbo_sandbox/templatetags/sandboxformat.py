"""Money and dates on the sandbox pages, with Babel, for the active language (the sandbox has its
own copy: it imports nothing from linksite).

{% load sandboxformat %}{{ txn.amount|money:txn.currency }} {{ txn.cleared_on_date|day }}"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from django import template
from django.utils.translation import get_language

register = template.Library()


def babel_locale(currency: str = "") -> str:
    if (get_language() or "en").lower().startswith("fr"):
        return "fr_CA"
    return "en_US" if currency == "USD" else "en_CA"


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return ""
    if not currency:
        return format_currency(amount, "USD", format="#,##0.00", locale=babel_locale())
    return format_currency(amount, currency, locale=babel_locale(currency))


@register.filter
def day(value: dt.date | None) -> str:
    if value is None:
        return ""
    return format_date(value, format="medium", locale=babel_locale())
