"""The QBO sandbox in pull mode: its Link account wizard, Update, Disconnect and daily schedule
read linksite's IDX API over real HTTP (the live server), as QBO does."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from accounts.audit import Actor
from feeds import credentials
from feeds.models import CredentialOrigin, Feed
from feeds.schedules import SANDBOX_DAILY_PULL, setup_schedules
from qbo_sandbox.models import (
    ChartAccount,
    Delivery,
    FeedStatus,
    LinkedFeed,
    PullCredential,
    ReceivedTransaction,
)
from tests.makers import make_transaction

KEY = "sandbox-partner-key"


@pytest.fixture
def pull_over_http(live_server, settings, alice, enabled):
    """linksite in pull mode at the live server, the sandbox pulling from it with its key."""
    settings.LINKSITE_URL = live_server.url
    settings.QBO_DELIVERY = frozenset({"pull"})
    settings.IDX_PARTNER_KEYS = ["another-key", KEY]
    settings.QBO_SANDBOX_PARTNER_KEY = KEY
    settings.QBO_SANDBOX_ENABLED = True
    settings.QBO_SANDBOX_INSTITUTION = "Maple Bank"
    cache.clear()
    yield alice
    cache.clear()


def credentials_for(alice) -> tuple[str, str]:
    credential_set, password = credentials.issue(
        alice.connection,
        [alice.checking, alice.card],
        origin=CredentialOrigin.LINK,
        actor=Actor.smb(alice.connection.pk),
    )
    return credential_set.username, password


def sign_in(client, username: str, password: str):
    page = client.get("/qbo-sandbox/banking/link", {"q": "maple"}).content.decode()
    assert "Maple Bank" in page
    assert client.post("/qbo-sandbox/banking/link").url == "/qbo-sandbox/banking/link/terms"
    client.post("/qbo-sandbox/banking/link/terms", {"accept": "on"})
    return client.post(
        "/qbo-sandbox/banking/link/sign-in", {"username": username, "password": password}
    )


def link_checking(client, alice, start: dt.date) -> LinkedFeed:
    response = sign_in(client, *credentials_for(alice))
    assert response.status_code == 302, response.content.decode()
    assert response.url == "/qbo-sandbox/banking/link/accounts"
    page = client.get("/qbo-sandbox/banking/link/accounts").content.decode()
    assert "Alice Checking ••••6789" in page and "Alice Visa" in page
    checking = ChartAccount.objects.get(name="Checking")
    response = client.post(
        "/qbo-sandbox/banking/link/accounts",
        {"link-0": "on", "target-0": str(checking.pk), "start-0": start.isoformat()},
    )
    assert response.status_code == 302, response.content.decode()
    return LinkedFeed.objects.get(chart_account=checking, status=FeedStatus.ACTIVE)


def banking(client) -> str:
    response = client.get("/qbo-sandbox/banking")
    assert response.status_code == 200
    return response.content.decode()


def test_a_pull_mode_link_lists_the_accounts_links_and_pulls_at_once(client, pull_over_http):
    alice = pull_over_http
    make_transaction(alice.checking, "t-1", description="Flour")
    make_transaction(alice.checking, "t-2", description="Sugar")
    make_transaction(alice.card, "v-1", description="Not linked")
    three_days_ago = timezone.localdate() - dt.timedelta(days=3)

    feed = link_checking(client, alice, three_days_ago)

    assert feed.delivery == Delivery.PULL and feed.feed_start_date == three_days_ago
    assert feed.credential is not None and feed.last_pulled_at is not None
    assert feed.source_account_id == "alice-chk"
    stored = ReceivedTransaction.objects.filter(feed=feed)
    assert sorted(stored.values_list("txn_id", flat=True)) == ["t-1", "t-2"]
    # linksite saw QBO's first pull: the account is connected, from the chosen start date.
    alice.checking.refresh_from_db()
    assert alice.checking.status == "connected"
    linksite_feed = Feed.objects.get(source_account=alice.checking)
    assert linksite_feed.feed_start_date == three_days_ago
    page = banking(client)
    assert "Flour" in page and "Sugar" in page and "Not linked" not in page
    assert "Pulled by QuickBooks, last at" in page


def test_update_pulls_the_new_transactions_without_duplicates(client, pull_over_http):
    alice = pull_over_http
    make_transaction(alice.checking, "t-1")
    feed = link_checking(client, alice, timezone.localdate())
    make_transaction(alice.checking, "t-2", description="Butter")

    # The window starts on the last pull's UTC day, so t-1 is served again and not stored twice.
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert "Update done: 1 new transaction received." in response.content.decode()
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert "Update done: 0 new transactions received." in response.content.decode()
    assert sorted(
        ReceivedTransaction.objects.filter(feed=feed).values_list("txn_id", flat=True)
    ) == ["t-1", "t-2"]
    assert "Butter" in banking(client)


def test_after_revocation_in_linksite_the_sandbox_shows_the_error(client, pull_over_http):
    alice = pull_over_http
    feed = link_checking(client, alice, timezone.localdate())
    credentials.revoke_all(alice.connection, actor=Actor.smb(alice.connection.pk))
    cache.clear()

    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert response.status_code == 200
    assert "no longer accepts the credentials" in response.content.decode()
    feed.refresh_from_db()
    assert feed.pull_error == "unauthorized"
    # The page keeps saying so, in the reader's language.
    client.cookies["django_language"] = "fr"
    page = client.get("/qbo-sandbox/banking", headers={"accept-language": "fr"}).content.decode()
    assert "n’accepte plus" in page


def test_an_unreachable_linksite_is_a_message_not_a_500(client, pull_over_http, settings):
    feed = link_checking(client, pull_over_http, timezone.localdate())
    settings.LINKSITE_URL = "http://127.0.0.1:9"
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert response.status_code == 200
    assert "QuickBooks couldn&#x27;t reach your bank right now." in response.content.decode()


def test_a_rate_limited_pull_is_a_message(client, pull_over_http, settings):
    feed = link_checking(client, pull_over_http, timezone.localdate())
    settings.IDX_RATE_LIMIT_PER_MINUTE = 1
    cache.clear()
    client.post(f"/qbo-sandbox/banking/{feed.pk}/update")
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/update", follow=True)
    assert "Your bank is busy right now." in response.content.decode()


def test_wrong_credentials_are_refused_and_nothing_is_kept(client, pull_over_http):
    response = sign_in(client, "AAAA-BBBB-CCCC", "nope")
    assert response.status_code == 400
    assert "We couldn&#x27;t verify these credentials." in response.content.decode()
    assert not PullCredential.objects.exists()


def test_disconnect_stops_the_pulls_and_forgets_the_credentials(client, pull_over_http):
    alice = pull_over_http
    feed = link_checking(client, alice, timezone.localdate())
    response = client.post(f"/qbo-sandbox/banking/{feed.pk}/edit", {"disconnect": "on"})
    assert response.status_code == 302
    feed.refresh_from_db()
    assert feed.status == FeedStatus.DISCONNECTED and feed.credential is None
    assert not PullCredential.objects.exists()

    make_transaction(alice.checking, "t-late")
    assert import_string("qbo_sandbox.tasks.daily_pull")()["feeds"] == 0
    assert not ReceivedTransaction.objects.filter(txn_id="t-late").exists()
    # QBO told linksite nothing: the account stays connected until the 10 days of silence.
    alice.checking.refresh_from_db()
    assert alice.checking.status == "connected"


def test_the_daily_schedule_pulls_every_linked_account(client, pull_over_http):
    alice = pull_over_http
    feed = link_checking(client, alice, timezone.localdate())
    make_transaction(alice.checking, "t-night", description="Night deposit")

    setup_schedules()
    schedule = Schedule.objects.get(name=SANDBOX_DAILY_PULL)
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
    counts = import_string(schedule.func)()

    assert counts == {"feeds": 1, "received": 1, "errors": 0}
    assert ReceivedTransaction.objects.filter(feed=feed, txn_id="t-night").exists()


def test_the_sandbox_schedule_exists_only_with_the_sandbox_in_pull_mode(db, settings):
    settings.QBO_SANDBOX_ENABLED = True
    settings.QBO_DELIVERY = frozenset({"push"})
    setup_schedules()
    assert not Schedule.objects.filter(name=SANDBOX_DAILY_PULL).exists()
    settings.QBO_DELIVERY = frozenset({"push", "pull"})
    setup_schedules()
    setup_schedules()
    assert Schedule.objects.filter(name=SANDBOX_DAILY_PULL).count() == 1
    settings.QBO_SANDBOX_ENABLED = False
    setup_schedules()
    assert not Schedule.objects.filter(name=SANDBOX_DAILY_PULL).exists()
