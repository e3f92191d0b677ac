"""Template filters for people-facing money, dates and times (see `feeds.formatting`).

{{ account.balance|money:account.currency }}   with `country` in the context
"""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

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


# The Link pages' progress indicator (the QBO side's own steps all happen inside the last one).
STEPS = (
    (1, _("Overview")),
    (2, _("Choose accounts")),
    (3, _("Set up QuickBooks")),
    (4, _("Link in QuickBooks")),
)


@register.inclusion_tag("link/_progress.html")
def progress(step: int) -> dict:
    """`{% progress step %}`: the steps before `step` done, `step` current (past the last one:
    every step done)."""
    return {
        "steps": [
            {"number": n, "label": label, "done": n < step, "current": n == step}
            for n, label in STEPS
        ]
    }
