"""Django's admin site with the operator's dashboard as its home page (issue 19): the index
shows what needs attention and delivery at a glance above the list of models, and two pages
of its own sit under /admin/dashboard/ (`feeds.admin_dashboard`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path


class OperatorSite(admin.AdminSite):
    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from feeds import admin_dashboard  # noqa: PLC0415 - the admins load after the site

        context = {**admin_dashboard.home_context(request), **(extra_context or {})}
        return super().index(request, context)

    def get_urls(self) -> list:
        from feeds import admin_dashboard  # noqa: PLC0415

        return [
            path(
                "dashboard/refresh/",
                self.admin_view(admin_dashboard.refresh),
                name="dashboard_refresh",
            ),
            path(
                "dashboard/company/<uuid:pk>/",
                self.admin_view(admin_dashboard.company),
                name="dashboard_company",
            ),
            *super().get_urls(),
        ]
