"""Management commands: createapikey, loaddemo, setup_schedules, compilemessages, localadmin."""

from __future__ import annotations

import datetime as dt
import gettext
import io
import shutil
import zoneinfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from accounts.models import ApiClient, ApiKey, AuditEvent, Company, OrganizationSettings
from feeds.models import Connection, SourceAccount
from feeds.schedules import DAILY_MAINTENANCE, DAILY_PUSH, PUSH_RESUME, next_local_time

TORONTO = zoneinfo.ZoneInfo("America/Toronto")


def run(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def test_createapikey_prints_a_working_key_alone_on_its_last_line(db):
    out = run("createapikey", "alice")
    key = out.splitlines()[-1]
    assert key == out.strip()
    found = ApiKey.authenticate(key)
    assert found is not None and found.client.name == "alice"
    # Only a hash is stored.
    assert key not in {found.key_hash, found.prefix}
    assert ApiKey.authenticate(key + "x") is None
    assert AuditEvent.objects.filter(action="api_key.created").count() == 1


def test_createapikey_twice_keeps_one_client_with_two_valid_keys(db):
    first = run("createapikey", "alice").splitlines()[-1]
    second = run("createapikey", "alice-2027", "--client", "alice").splitlines()[-1]
    assert first != second
    assert ApiClient.objects.count() == 1
    assert {ApiKey.authenticate(k).name for k in (first, second)} == {"alice", "alice-2027"}


def test_a_revoked_key_no_longer_authenticates(db):
    key = run("createapikey", "alice").splitlines()[-1]
    ApiKey.objects.update(revoked=dt.datetime.now(dt.UTC))
    assert ApiKey.authenticate(key) is None


def test_loaddemo_is_idempotent_and_keeps_operator_edits(db):
    run("loaddemo")
    counts = (Company.objects.count(), Connection.objects.count(), SourceAccount.objects.count())
    org = OrganizationSettings.get()
    assert (org.institution_name, org.integration_enabled) == ("Maple Bank", True)
    assert org.logo_content_type == "image/png" and bytes(org.logo).startswith(b"\x89PNG")
    assert org.callout("fr-ca")[0] == "Gardez ces identifiants confidentiels"
    assert {c.country for c in Company.objects.all()} == {"US", "CA"}
    assert counts == (2, 2, 7)

    org.callout_title_en = "Edited by the operator"
    org.save()
    run("loaddemo")
    assert (
        Company.objects.count(),
        Connection.objects.count(),
        SourceAccount.objects.count(),
    ) == counts
    assert OrganizationSettings.get().callout_title_en == "Edited by the operator"


def test_loaddemo_prints_a_link_url_per_demo_connection(db):
    out = run("loaddemo")
    assert out.count("/link/start?token=") == 2


def test_setup_schedules_creates_each_schedule_once_with_next_run_set(db, settings):
    settings.DAILY_PUSH_TIME = dt.time(2, 0)
    settings.DAILY_MAINTENANCE_TIME = dt.time(3, 30)
    with time_machine.travel(dt.datetime(2026, 11, 25, 14, 0, tzinfo=TORONTO), tick=False):
        run("setup_schedules")
        run("setup_schedules")
    assert Schedule.objects.filter(name=DAILY_PUSH).count() == 1
    assert Schedule.objects.filter(name=DAILY_MAINTENANCE).count() == 1
    push = Schedule.objects.get(name=DAILY_PUSH)
    assert (push.func, push.schedule_type, push.repeats) == ("feeds.tasks.daily_push", "D", -1)
    assert push.next_run == dt.datetime(2026, 11, 26, 2, 0, tzinfo=TORONTO)
    maintenance = Schedule.objects.get(name=DAILY_MAINTENANCE)
    assert maintenance.func == "feeds.tasks.daily_maintenance"
    assert maintenance.next_run == dt.datetime(2026, 11, 26, 3, 30, tzinfo=TORONTO)
    resume = Schedule.objects.get(name=PUSH_RESUME)
    assert (resume.func, resume.schedule_type, resume.minutes, resume.repeats) == (
        "feeds.tasks.resume_pushes",
        "I",
        1,
        -1,
    )


def test_setup_schedules_follows_a_new_push_time_and_removes_duplicates(db, settings):
    with time_machine.travel(dt.datetime(2026, 11, 25, 14, 0, tzinfo=TORONTO), tick=False):
        run("setup_schedules")
        Schedule.objects.create(name=DAILY_PUSH, func="feeds.tasks.daily_push", schedule_type="D")
        settings.DAILY_PUSH_TIME = dt.time(5, 15)
        out = run("setup_schedules")
    assert "linksite.daily_push: updated" in out
    push = Schedule.objects.get(name=DAILY_PUSH)
    assert push.next_run == dt.datetime(2026, 11, 26, 5, 15, tzinfo=TORONTO)


def test_the_next_push_keeps_the_wall_clock_time_across_daylight_saving_changes(settings):
    settings.TIME_ZONE = "America/Toronto"
    # Fall back (2026-11-01): 02:00 local is after the change, at UTC-5.
    after = next_local_time(dt.time(2, 0), dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC))
    assert after == dt.datetime(2026, 11, 1, 7, 0, tzinfo=dt.UTC)
    # Spring forward (2026-03-08): 02:30 does not exist; it runs at 03:30 EDT.
    gap = next_local_time(dt.time(2, 30), dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC))
    assert gap == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    assert gap.astimezone(TORONTO).hour == 3


def test_compilemessages_builds_mo_files_with_babel(tmp_path, settings):
    locale = tmp_path / "locale"
    shutil.copytree(settings.BASE_DIR / "locale", locale, ignore=shutil.ignore_patterns("*.mo"))
    settings.LOCALE_PATHS = [locale]
    run("compilemessages")
    with (locale / "fr" / "LC_MESSAGES" / "django.mo").open("rb") as f:
        catalog = gettext.GNUTranslations(f)
    assert catalog.gettext("source account") == "compte source"
    assert catalog.ngettext("%(n)d API key revoked.", "%(n)d API keys revoked.", 2) % {"n": 2} == (
        "2\u00a0clés API révoquées."
    )


def test_compilemessages_refuses_a_broken_placeholder(tmp_path, settings):
    po = tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Hello %(name)s"\nmsgstr "Bonjour %(nom)s"\n',
        encoding="utf-8",
    )
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    with pytest.raises(CommandError, match="placeholder"):
        run("compilemessages")
    assert not po.with_suffix(".mo").exists()


def test_localadmin_gives_the_admin_user_a_new_password(db, settings):
    settings.DEBUG = True
    from django.contrib.auth import authenticate

    first = run("localadmin").strip()
    second = run("localadmin").strip()
    assert first != second
    assert authenticate(username="admin", password=first) is None
    user = authenticate(username="admin", password=second)
    assert user is not None and user.is_superuser


def test_localadmin_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="local default run"):
        run("localadmin")
