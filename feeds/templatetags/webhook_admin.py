"""The admin index's notice of webhook endpoints linksite disabled (every delivery failing for
WEBHOOK_DISABLE_AFTER_DAYS days).

{% webhook_endpoints_disabled as disabled %}   a list of (endpoint, notice)
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def webhook_endpoints_disabled(context: Any) -> list[tuple[Any, str]]:
    from feeds.admin import disabled_by_linksite, disabled_notice

    request = context.get("request")
    if request is None or not request.user.has_perm("feeds.view_webhookendpoint"):
        return []
    return [(endpoint, disabled_notice(endpoint)) for endpoint in disabled_by_linksite()]
