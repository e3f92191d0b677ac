"""Wall-clock times in TIME_ZONE, as the worker's daily schedules and the rules that follow
them (the maintenance's disconnect day) count them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.utils import timezone


def next_local_time(at: dt.time, now: dt.datetime | None = None) -> dt.datetime:
    """The next moment the wall clock in TIME_ZONE shows `at`, as an aware datetime.

    On a spring-forward day a time that does not exist is taken one hour later; on a fall-back
    day an ambiguous time is its first occurrence (fold=0)."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    now_local = (now or timezone.now()).astimezone(tz)
    day = now_local.date()
    while True:
        candidate = dt.datetime.combine(day, at, tzinfo=tz)
        # Round-tripping through UTC normalizes a non-existent local time.
        candidate = candidate.astimezone(dt.UTC).astimezone(tz)
        if candidate > now_local:
            return candidate
        day += dt.timedelta(days=1)
