"""Money, dates and the bank's words on the sandbox pages, with Babel, for the active language
(the sandbox has its own copy of linksite's `feeds.formatting`: it imports nothing from linksite).

{% load sandboxformat %}{{ txn.amount|money:txn.currency }} {{ txn.cleared_on_date|day }}
{{ account|account_facts }} {{ txn.transaction_type|transaction_kind }}"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from django import template
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

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


# The accountType values linksite sends (product.md §3), as the SMB user reads them.
ACCOUNT_KINDS = {
    "checking": gettext_lazy("Checking"),
    "savings": gettext_lazy("Savings"),
    "loan": gettext_lazy("Loan"),
    "creditCard": gettext_lazy("Credit card"),
    "prepaidCard": gettext_lazy("Prepaid card"),
}
# A transaction's transactionType (push) or transactionValueType (pull, lower-cased).
TRANSACTION_KINDS = {
    "credit": gettext_lazy("Credit"),
    "debit": gettext_lazy("Debit"),
    "unknown": gettext_lazy("Unknown"),
}


@register.filter
def account_kind(account_type: str) -> str:
    """The account type's name, or "" for one linksite's protocol does not define."""
    label = ACCOUNT_KINDS.get(str(account_type))
    return str(label) if label is not None else ""


# Larger than any balance linksite accepts (its DecimalField): not money, not shown.
_BALANCE_LIMIT = Decimal("1e16")


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value)[:40])
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and abs(amount) < _BALANCE_LIMIT else None


@register.filter
def account_balance(account: dict[str, Any]) -> str:
    """An offered account's balance as money. Balances are signed like amounts, from the account
    holder's side (credits positive, debits negative: the hosted service's rule, which linksite
    keeps), so a card's purchases make its balance negative: that is what the holder owes."""
    amount = _decimal(account.get("balance"))
    if amount is None:
        return ""
    currency = str(account.get("currency") or "")
    if account.get("accountType") == "creditCard":
        if amount < 0:
            return _("Owed: %(amount)s") % {"amount": money(-amount, currency)}
        if amount > 0:
            return _("Credit balance: %(amount)s") % {"amount": money(amount, currency)}
        return _("Nothing owed")
    return _("Balance: %(amount)s") % {"amount": money(amount, currency)}


@register.filter
def account_facts(account: dict[str, Any]) -> str:
    """What the wizard says of an account the bank offers: "Credit card · USD · Owed: $1.00"."""
    facts = [account_kind(account.get("accountType", "")), str(account.get("currency") or "")]
    return " · ".join(fact for fact in [*facts, account_balance(account)] if fact)


@register.filter
def transaction_kind(value: str) -> str:
    label = TRANSACTION_KINDS.get(str(value).casefold())
    return str(label) if label is not None else ""
