"""A known world for the operator's dashboard (issue 19): every figure the dashboard shows has
its expected value in `EXPECTED`, worked out by hand from what `build` makes, at `NOW` (a
Wednesday afternoon in Toronto)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import SimpleNamespace

import time_machine
from django.utils import timezone

from accounts.audit import Actor
from feeds import lifecycle
from feeds.models import (
    ConnectionStatus,
    DeliveryStatus,
    SourceAccountStatus,
    WebhookEndpoint,
    WorkerHeartbeat,
)
from tests.makers import (
    make_account,
    make_batch,
    make_company,
    make_connection,
    make_credentials,
    make_feed,
    make_push,
    make_transaction,
)

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=TORONTO)
DAY = dt.timedelta(days=1)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TORONTO)


EXPECTED = {
    "attention": {
        "failing_feeds": 2,  # Acme's two feeds: the last batch of one rejected, of the other failed
        "awaiting_retry": 1,  # the rejected batch
        "in_grace": 1,  # Bois's feed, disabled 3 days ago (the one of 12 days ago is past it)
        "locked_credentials": 1,  # the used one does not count
        "pending_auth": 1,  # Cèdre's, 8 days old (Daim's is 2 days old)
        "webhook_endpoints": 2,  # one failing, one disabled, one healthy
    },
    # Disabled 2026-11-22 15:00 Toronto + 10 days = 2026-12-02 15:00: the maintenance run at
    # 03:30 the next morning disconnects it.
    "disconnects_on": dt.date(2026, 12, 3),
    "days": {
        dt.date(2026, 11, 23): {
            "written": 3,
            "delivered": 3,
            "failures": 0,
            "p50": 120,
            "p95": 600,
        },
        # Written 23:30 on the 24th in Toronto (04:30 UTC on the 25th), delivered at 00:30.
        dt.date(2026, 11, 24): {"written": 1, "delivered": 0, "failures": 1},
        dt.date(2026, 11, 25): {
            "written": 2,
            "delivered": 1,
            "failures": 1,
            "p50": 3600,
            "p95": 3600,
        },
    },
    "backlog": 2,  # today's two pending rows of Acme (Bois's pending row has no active feed)
    "backlog_age_hours": 6,  # the oldest written at 09:00
    "funnel": {"created": 4, "credentials": 2, "linked": 2, "delivered": 1},
}


def build(heartbeat_age: dt.timedelta = dt.timedelta(seconds=30)) -> SimpleNamespace:
    """The world of `EXPECTED`, made with the clock at the times it names."""
    with time_machine.travel(NOW - 20 * DAY, tick=False):
        acme = make_company("Acme Plumbing", "US", client="dash")
        acme_conn = make_connection(acme, status=ConnectionStatus.LINKED)
        main = make_account(acme_conn, "acme-1", account_name="Acme Checking", status="connected")
        card = make_account(acme_conn, "acme-2", account_name="Acme Card", status="connected")
        main_feed = make_feed(main)
        card_feed = make_feed(card)
        make_credentials(acme_conn, "ACME-LOCK-0001", locked=timezone.now())
        make_credentials(acme_conn, "ACME-USED-0002", locked=timezone.now(), used=timezone.now())
    with time_machine.travel(NOW - 25 * DAY, tick=False):
        bois = make_company("Bois & Fils", "CA", client="dash")
        bois_conn = make_connection(bois, status=ConnectionStatus.LINKED)
        bois_account = make_account(
            bois_conn,
            "bois-1",
            account_name="Bois Chèques",
            currency="CAD",
            status=SourceAccountStatus.CONNECTED,
        )
        old_account = make_account(
            bois_conn, "bois-2", account_name="Bois Old", currency="CAD", status="connected"
        )
    grace_feed = make_feed(bois_account, disabled_on_utc=NOW - 3 * DAY)
    make_feed(old_account, disabled_on_utc=NOW - 12 * DAY)
    with time_machine.travel(NOW - 8 * DAY, tick=False):
        make_connection(make_company("Cèdre Inc.", "CA", client="dash"))
    with time_machine.travel(NOW - 2 * DAY, tick=False):
        daim = make_connection(make_company("Daim Co", "US", client="dash"))
        make_credentials(daim, "DAIM-OPEN-0003")
    with time_machine.travel(NOW - 40 * DAY, tick=False):
        make_connection(  # too old for the funnel, and closed: no nudge either
            make_company("Érable Ltd", "CA", client="dash"), status=ConnectionStatus.DEAUTHORIZED
        )

    push = make_push(main)
    # The 23rd: three written at 10:00, delivered 1, 2 and 10 minutes later.
    for n, seconds in enumerate((60, 120, 600)):
        written = local(23, 10)
        make_transaction(
            main,
            f"d23-{n}",
            push,
            created=written,
            delivery_state="delivered",
            delivered=written + dt.timedelta(seconds=seconds),
        )
    make_transaction(
        main,
        "d24",
        push,
        created=local(24, 23, 30),
        delivery_state="delivered",
        delivered=local(25, 0, 30),
    )
    make_transaction(main, "d25-0", push, created=local(25, 9))
    make_transaction(main, "d25-1", push, created=local(25, 11))
    bois_push = make_push(bois_account)
    with time_machine.travel(NOW - 30 * DAY, tick=False):  # before the window
        make_transaction(bois_account, "old-pending", bois_push)

    worker = Actor.worker()
    make_batch(main_feed, status=DeliveryStatus.DELIVERED, delivered=local(23, 10, 10))
    rejected = make_batch(main_feed)
    with time_machine.travel(local(24, 12), tick=False):
        lifecycle.transition(rejected, DeliveryStatus.REJECTED, actor=worker)
    failed = make_batch(card_feed)
    with time_machine.travel(local(25, 8), tick=False):
        lifecycle.transition(failed, DeliveryStatus.FAILED, actor=worker)

    client = acme.client
    WebhookEndpoint.objects.create(client=client, url="https://a.example/h", failing_since=NOW)
    WebhookEndpoint.objects.create(client=client, url="https://b.example/h", disabled=True)
    WebhookEndpoint.objects.create(client=client, url="https://c.example/h")
    WorkerHeartbeat.objects.create(
        name="cluster", last_seen=NOW - heartbeat_age, every_seconds=60, host="worker-1"
    )
    return SimpleNamespace(
        acme=acme,
        bois=bois,
        main_feed=main_feed,
        card_feed=card_feed,
        grace_feed=grace_feed,
        rejected=rejected,
    )


def grow(companies: int) -> None:
    """More of the same kind of data, for the query count's independence from size."""
    for n in range(companies):
        company = make_company(f"Grow {n}", "US", client="grow")
        connection = make_connection(company, status=ConnectionStatus.LINKED)
        account = make_account(connection, f"g-{n}", status="connected")
        feed = make_feed(account)
        push = make_push(account)
        make_transaction(account, f"g-{n}-a", push, created=NOW - DAY)
        make_transaction(
            account,
            f"g-{n}-b",
            push,
            created=NOW - 2 * DAY,
            delivery_state="delivered",
            delivered=NOW - DAY,
        )
        batch = make_batch(feed)
        lifecycle.transition(batch, DeliveryStatus.REJECTED, actor=Actor.worker())
        make_credentials(connection, f"GROW-{n:04d}-LCK", locked=NOW)
