"""The worker's recurring schedules, declared idempotently (`manage.py setup_schedules`)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from feeds import dashboard
from feeds.localtime import next_local_time

DAILY_PUSH = "linksite.daily_push"
DAILY_MAINTENANCE = "linksite.daily_maintenance"
# Every minute: webhook retries whose time has come, and deliveries a crashed sender left.
WEBHOOK_SWEEP = "linksite.webhook_sweep"
# Every minute: pushes a crash cut short (open batches whose claim ran out), and batches failed
# for their run whose next attempt has come.
PUSH_RESUME = "linksite.push_resume"
# The dashboard's (`feeds.dashboard`): the worker's heartbeat every minute, and the daily
# delivery figures every few minutes.
HEARTBEAT = "linksite.heartbeat"
DASHBOARD_REFRESH = "linksite.dashboard_refresh"
# The QBO sandbox's daily pull (pull mode). Its task's path is a setting: linksite's apps name
# nothing of the sandbox.
SANDBOX_DAILY_PULL = "linksite.sandbox_daily_pull"


def wanted() -> list[dict]:
    specs = [
        {
            "name": DAILY_PUSH,
            "func": "feeds.tasks.daily_push",
            "at": settings.DAILY_PUSH_TIME,
        },
        {
            "name": DAILY_MAINTENANCE,
            "func": "feeds.tasks.daily_maintenance",
            "at": settings.DAILY_MAINTENANCE_TIME,
        },
    ]
    specs.append({"name": WEBHOOK_SWEEP, "func": "feeds.tasks.sweep_webhooks", "every_minutes": 1})
    specs.append({"name": PUSH_RESUME, "func": "feeds.tasks.resume_pushes", "every_minutes": 1})
    specs.append(
        {
            "name": HEARTBEAT,
            "func": "feeds.tasks.heartbeat",
            "every_minutes": dashboard.HEARTBEAT_MINUTES,
        }
    )
    specs.append(
        {
            "name": DASHBOARD_REFRESH,
            "func": "feeds.tasks.refresh_dashboard",
            "every_minutes": dashboard.REFRESH_MINUTES,
        }
    )
    if settings.QBO_SANDBOX_ENABLED and "pull" in settings.QBO_DELIVERY:
        specs.append(
            {
                "name": SANDBOX_DAILY_PULL,
                "func": settings.QBO_SANDBOX_PULL_TASK,
                "at": settings.QBO_SANDBOX_PULL_TIME,
            }
        )
    return specs


def _daily(schedule: Schedule, spec: dict, tz: zoneinfo.ZoneInfo, now: dt.datetime | None) -> bool:
    """Make `schedule` run daily at the spec's local time; whether anything changed."""
    due = next_local_time(spec["at"], now)
    keep_next_run = (
        schedule.pk is not None
        and schedule.next_run is not None
        and schedule.next_run > (now or timezone.now())
        and schedule.next_run.astimezone(tz).time().replace(second=0, microsecond=0) == spec["at"]
    )
    changed = (
        schedule.pk is None
        or schedule.func != spec["func"]
        or schedule.schedule_type != Schedule.DAILY
        or schedule.repeats != -1
        or not keep_next_run
    )
    schedule.func = spec["func"]
    schedule.schedule_type = Schedule.DAILY
    schedule.repeats = -1
    if not keep_next_run:
        schedule.next_run = due
    return changed


def setup_schedules(now: dt.datetime | None = None) -> list[tuple[Schedule, str]]:
    """Create or update each schedule; returns (schedule, what happened) pairs."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    results = []
    specs = wanted()
    if SANDBOX_DAILY_PULL not in {spec["name"] for spec in specs}:
        # The sandbox is off, or pull mode is: its schedule goes (a no-op when there is none).
        for schedule in Schedule.objects.filter(name=SANDBOX_DAILY_PULL):
            schedule.delete()
            results.append((schedule, "deleted"))
    for spec in specs:
        matches = list(Schedule.objects.filter(name=spec["name"]).order_by("id"))
        for extra in matches[1:]:
            extra.delete()  # an earlier, careless setup left duplicates
        schedule = matches[0] if matches else Schedule(name=spec["name"])
        if "every_minutes" in spec:
            # A schedule every few minutes: its next run is whenever it comes.
            changed = (
                schedule.pk is None
                or schedule.func != spec["func"]
                or schedule.schedule_type != Schedule.MINUTES
                or schedule.minutes != spec["every_minutes"]
                or schedule.repeats != -1
            )
            schedule.func = spec["func"]
            schedule.schedule_type = Schedule.MINUTES
            schedule.minutes = spec["every_minutes"]
            schedule.repeats = -1
            if schedule.next_run is None or schedule.pk is None:
                schedule.next_run = now or timezone.now()
        else:
            changed = _daily(schedule, spec, tz, now)
        action = "created" if schedule.pk is None else ("updated" if changed else "unchanged")
        if changed:
            schedule.save()
        results.append((schedule, action))
    return results
