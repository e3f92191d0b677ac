"""Template filters for people-facing money, dates and times (see `feeds.formatting`).

{{ account.balance|money:account.currency }}   with `country` in the context
"""

from __future__ import annotations

from django import template

from feeds import formatting

register = template.Library()


@register.simple_tag(takes_context=True)
def money(context, amount, currency):
    return formatting.money(amount, currency, context.get("country", "CA"))


@register.simple_tag(takes_context=True)
def longdate(context, value):
    return formatting.long_date(value, context.get("country", "CA"))


@register.simple_tag(takes_context=True)
def shorttime(context, value):
    return formatting.short_time(value, context.get("country", "CA"))
