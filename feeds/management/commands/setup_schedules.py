"""Create or update the worker's daily schedules; running it again changes nothing."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from feeds.schedules import setup_schedules


class Command(BaseCommand):
    help = (
        "Create or update the daily push and maintenance schedules, and the QBO sandbox's "
        "daily pull in pull mode (idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for schedule, action in setup_schedules():
            if action == "deleted" or schedule.next_run is None:
                self.stdout.write(f"{schedule.name}: {action}")
                continue
            when = timezone.localtime(schedule.next_run)
            self.stdout.write(f"{schedule.name}: {action}, next run {when:%Y-%m-%d %H:%M %Z}")
