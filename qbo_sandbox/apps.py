from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QboSandboxConfig(AppConfig):
    name = "qbo_sandbox"
    verbose_name = _("QBO sandbox")
