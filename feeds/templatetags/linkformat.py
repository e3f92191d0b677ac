"""Template filters for people-facing money, dates and times (see `feeds.formatting`).

{{ account.balance|money:account.currency }}   with `country` in the context
"""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.template.loader import render_to_string
from django.utils.translation import get_language
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


@register.simple_tag
def progress(step: int) -> str:
    """`{% progress step %}`: the steps before `step` done, `step` current (past the last one:
    every step done)."""
    return _progress(get_language(), step)


@lru_cache(maxsize=32)
def _progress(language: str, step: int) -> str:
    # The same for every request of a language and step: rendered once per process (it was a
    # tenth of a Link screen's time).
    steps = [
        {"number": n, "label": label, "done": n < step, "current": n == step} for n, label in STEPS
    ]
    return render_to_string("link/_progress.html", {"steps": steps})
