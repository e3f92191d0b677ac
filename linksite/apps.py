"""The admin site as linksite runs it: Django's, with the operator's dashboard as its home
(`linksite.admin_site`), and every admin's action selection checked
(`accounts.admin.check_every_selection`) once all admins are registered."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class LinksiteAdminConfig(AdminConfig):
    default_site = "linksite.admin_site.OperatorSite"

    def ready(self) -> None:
        super().ready()  # registers every app's admin
        from accounts.admin import check_every_selection  # noqa: PLC0415

        check_every_selection(admin.site)
