"""The Link pages' lists of source accounts, as HTML: the chosen ones as chips (set-up), with
their live status (credentials), and the connected ones. Made with `str.format` on values
escaped with `html.escape` (what Django's `escape` does, without its per-call wrapping): with
50 accounts, a template's lookups for each were most of a screen's cost. Here rather than in
the Link views so that admin's preview of the pages shows the same lists."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe

CHIP = '<li class="chip">{name} <span class="nowrap">{masked}</span></li>'
STATUS_ITEM = (
    '<li data-account="{pk}"><span class="name">{name} <span class="nowrap">{masked}</span>'
    '</span> <span class="badge badge-{state}">{label}</span></li>'
)
CONNECTED_ITEM = (
    '<li><span class="name">{name}</span> <span class="masked nowrap">{masked}</span> '
    '<span class="badge badge-connected">{label}</span></li>'
)


def account_items(
    template: str, accounts: Iterable[Any], labels: dict[str, str], *, connected: str = ""
) -> SafeString:
    """`accounts` (with pk, account_name, masked_number, link_state) as list items of
    `template`; `labels`: the status labels by state; `connected`: the Connected badge's."""
    escaped = {state: escape(label) for state, label in labels.items()}
    badge = escape(connected)
    return mark_safe(  # noqa: S308 - every value is escaped
        "".join(
            template.format(
                pk=escape(str(a.pk)),
                name=escape(a.account_name),
                masked=escape(a.masked_number),
                state=escape(a.link_state),
                label=badge if template is CONNECTED_ITEM else escaped.get(a.link_state, ""),
            )
            for a in accounts
        )
    )
