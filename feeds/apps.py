from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedsConfig(AppConfig):
    name = "feeds"
    verbose_name = _("Bank feeds")

    def ready(self) -> None:
        # The worker's side listens for recorded webhook events (`feeds.tasks`), in every
        # process that records them: web, worker and management commands alike.
        from feeds import tasks  # noqa: F401, PLC0415
