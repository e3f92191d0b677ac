"""Daily maintenance: the 10-day lag after QBO disables a feed, Unlinked connections, purges."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AuditEvent
from feeds.maintenance import run_daily_maintenance
from feeds.models import BrowserSession, CredentialSet, Feed, LinkSession, SourceAccount
from tests.makers import make_credentials, make_feed

DISABLED_AT = dt.datetime(2026, 11, 2, 15, 30, tzinfo=dt.UTC)


def connect(account, disabled=None):
    SourceAccount.objects.filter(pk=account.pk).update(status="connected")
    return make_feed(account, disabled_on_utc=disabled)


@pytest.fixture
def linked(alice):
    alice.connection.__class__.objects.filter(pk=alice.connection.pk).update(status="Linked")
    return alice


def status(obj):
    obj.refresh_from_db()
    return obj.status


def test_an_account_stays_connected_nine_days_after_qbo_disabled_its_feed(linked):
    connect(linked.checking, disabled=DISABLED_AT)
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=9, hours=23), tick=False):
        run_daily_maintenance()
    assert status(linked.checking) == "connected"


def test_an_account_is_disconnected_ten_days_after_qbo_disabled_its_feed(linked):
    connect(linked.checking, disabled=DISABLED_AT)
    connect(linked.card)
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=10), tick=False):
        summary = run_daily_maintenance()
    assert summary["accounts_disconnected"] == 1
    assert status(linked.checking) == "disconnected"
    assert status(linked.card) == "connected"
    # The card is still fed, so the connection stays Linked.
    assert status(linked.connection) == "Linked"
    event = AuditEvent.objects.get(action="sourceaccount.status")
    assert (event.actor_type, event.data["to"]) == ("worker", "disconnected")


def test_the_connection_is_unlinked_the_same_day_its_last_account_is_disconnected(linked):
    connect(linked.checking, disabled=DISABLED_AT)
    connect(linked.card, disabled=DISABLED_AT + dt.timedelta(days=2))
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=10, hours=1), tick=False):
        run_daily_maintenance()
    assert status(linked.connection) == "Linked"
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=12, hours=1), tick=False):
        summary = run_daily_maintenance()
    assert summary == {
        "accounts_disconnected": 1,
        "connections_unlinked": 1,
        "link_sessions_purged": 0,
        "browser_sessions_purged": 0,
        "credential_sets_purged": 0,
        "idempotency_keys_purged": 0,
        "webhook_deliveries_purged": 0,
        "webhook_events_purged": 0,
        "webhook_endpoints_disabled": 0,
        "refusal_tallies_purged": 0,
    }
    assert status(linked.card) == "disconnected"
    assert status(linked.connection) == "Unlinked"


def test_an_account_linked_again_after_a_disconnect_stays_connected(linked):
    connect(linked.checking, disabled=DISABLED_AT)
    make_feed(linked.checking)  # the SMB linked it again in QBO
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=30), tick=False):
        run_daily_maintenance()
    assert status(linked.checking) == "connected"


def test_maintenance_run_twice_changes_nothing_more(linked):
    connect(linked.checking, disabled=DISABLED_AT)
    connect(linked.card, disabled=DISABLED_AT)
    with time_machine.travel(DISABLED_AT + dt.timedelta(days=11), tick=False):
        first = run_daily_maintenance()
        events = AuditEvent.objects.count()
        second = run_daily_maintenance()
    assert (first["accounts_disconnected"], first["connections_unlinked"]) == (2, 1)
    assert (second["accounts_disconnected"], second["connections_unlinked"]) == (0, 0)
    assert AuditEvent.objects.count() == events


def test_expired_credentials_and_link_sessions_are_purged(linked):
    now = timezone.now()
    expired = make_credentials(
        linked.connection, "AAAA-AAAA-AAAA", expires=now - dt.timedelta(seconds=1)
    )
    LinkSession.objects.create(
        credential_set=expired, connection=linked.connection, expires=now - dt.timedelta(minutes=1)
    )
    fresh = make_credentials(linked.connection, "BBBB-BBBB-BBBB")
    feed = make_feed(linked.checking, credential_set=expired)
    summary = run_daily_maintenance()
    assert (summary["credential_sets_purged"], summary["link_sessions_purged"]) == (1, 1)
    assert list(CredentialSet.objects.all()) == [fresh]
    assert not LinkSession.objects.exists()
    # The feed the expired set created lives on.
    assert Feed.objects.get(pk=feed.pk).credential_set is None
    assert AuditEvent.objects.filter(action="maintenance.purged").count() == 1


def test_expired_browser_sessions_are_purged_and_open_ones_kept(db):
    from linksite.sessions import SessionStore

    stores = []
    for seconds in (-60, 3600):
        store = SessionStore()
        store["link"] = {"connection": "x"}
        store.set_expiry(seconds)
        store.create()
        stores.append(store.session_key)
    summary = run_daily_maintenance()
    assert summary["browser_sessions_purged"] == 1
    assert list(BrowserSession.objects.values_list("pk", flat=True)) == stores[1:]
    assert SessionStore(stores[1])["link"] == {"connection": "x"}


def test_a_set_used_just_before_expiry_keeps_its_live_link_session(linked):
    now = timezone.now()
    used = make_credentials(
        linked.connection, "CCCC-CCCC-CCCC", expires=now - dt.timedelta(minutes=5), used=now
    )
    LinkSession.objects.create(
        credential_set=used, connection=linked.connection, expires=now + dt.timedelta(minutes=25)
    )
    run_daily_maintenance()
    assert CredentialSet.objects.filter(pk=used.pk).exists()
    assert LinkSession.objects.count() == 1
