"""The admin index's box of the organization settings.

{% organization_settings as org %}   the settings as they stand (None without view permission)
"""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import OrganizationSettings

register = template.Library()


@register.simple_tag(takes_context=True)
def organization_settings(context: Any) -> OrganizationSettings | None:
    request = context.get("request")
    if request is None or not request.user.has_perm("accounts.view_organizationsettings"):
        return None
    return OrganizationSettings.current()
