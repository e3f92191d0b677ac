"""The worker for real: `manage.py qcluster` subprocesses (the ORM broker on the SQLite leg, Redis
on the PostgreSQL leg) delivering to the QBO sandbox over HTTP (a live server), with
transactions written through the client API. Nothing of ours is faked; time is not faked either
(the schedule test sets the push time a few seconds ahead). Faults come from the sandbox's own
settings; crashes are `kill -9` of the whole cluster.

These tests take minutes in all: `-m "not worker"` skips them locally; `make test` runs them."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from django.conf import settings as django_settings
from django.db.models import Sum
from django.utils import timezone

from accounts.models import AuditEvent
from feeds.models import BankTransaction, DeliveryBatch, Feed
from qbo_sandbox import linksite as sandbox_linksite
from qbo_sandbox.models import (
    ChartAccount,
    FaultSettings,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)
from tests.conftest import Api, issue_key
from tests.makers import make_account, make_company, make_connection, make_linked_feed
from tests.worker_harness import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def api(client, enabled):
    return Api(client, issue_key("worker-test"))


class Shop:
    """A company whose source accounts are linked in the sandbox, and written to through the
    API the way the fintech's backend does."""

    def __init__(self, api: Api, name: str = "Worker Co") -> None:
        self.api = api
        self.company = make_company(name, "US", client="worker-test")
        self.connection = make_connection(self.company)
        self.written: dict[str, list[str]] = defaultdict(list)

    def feed(self, account_id: str) -> Feed:
        account = make_account(self.connection, account_id, account_name=account_id)
        target = ChartAccount.objects.create(
            company=SandboxCompany.current(), name=f"Bank {account_id}", account_type="Bank"
        )
        return make_linked_feed(account, target)

    def write(self, feed: Feed, count: int) -> None:
        account_id = feed.source_account.account_id
        today = timezone.localdate().isoformat()
        for start in range(0, count, 1000):
            items = [
                {
                    "id": f"{account_id}-{n}",
                    "clearedOnDate": today,
                    "amount": round(-1 - n / 100, 2),
                    "description": f"Purchase {n}",
                }
                for n in range(len(self.written[feed.pk]), len(self.written[feed.pk]) + 1000)
            ][: count - start]
            response = self.api.post(
                f"/companies/{self.company.pk}/connections/{self.connection.pk}/push/bankAccounts/"
                f"{account_id}/bankTransactions",
                {"accountId": account_id, "transactions": items},
            )
            assert response.status_code == 200, response.content
            assert response.json()["transactionCount"] == len(items), response.content
            self.written[feed.pk] += [item["id"] for item in items]


def received(feed: Feed) -> list[str]:
    return list(
        ReceivedTransaction.objects.filter(feed__feed_id=feed.pk).values_list("txn_id", flat=True)
    )


def all_delivered(feeds: list[Feed]) -> Callable[[], bool]:
    ids = [f.source_account_id for f in feeds]

    def check() -> bool:
        return not BankTransaction.objects.filter(
            source_account_id__in=ids, delivery_state="pending"
        ).exists()

    return check


def assert_exactly_once(shop: Shop, feeds: list[Feed]) -> None:
    """Every accepted transaction is in the sandbox once; every re-send was a whole batch
    recognised by its batch id, never a transaction sent again in a new batch."""
    for feed in feeds:
        got = received(feed)
        assert len(got) == len(shop.written[feed.pk]), (
            list(DeliveryBatch.objects.filter(feed=feed).values()),
            list(ReceivedBatch.objects.filter(feed__feed_id=feed.pk).values()),
        )
        assert set(got) == set(shop.written[feed.pk])
    batches = ReceivedBatch.objects.filter(feed__feed_id__in=[f.pk for f in feeds])
    assert batches.aggregate(n=Sum("duplicates"))["n"] == 0
    assert set(DeliveryBatch.objects.values_list("status", flat=True)) == {"delivered"}
    assert not BankTransaction.objects.filter(delivery_state="pending").exists()
    # The sandbox's duplicate counter is made of whole re-sent batches only.
    for feed in feeds:
        linked = LinkedFeed.objects.get(feed_id=feed.pk)
        resent = sum(b.resends * b.accepted for b in linked.batches.all())
        assert linked.duplicates == resent


def press_update(feed: Feed) -> None:
    """The SMB user presses Update in QBO: the sandbox calls linksite's refresh endpoint."""
    sandbox_linksite.refresh(feed.pk)


def set_faults(**values) -> None:
    faults = FaultSettings.load()
    for name, value in values.items():
        setattr(faults, name, value)
    faults.save()


# The cases ---------------------------------------------------------------------------------------


def test_the_daily_schedule_fires_and_delivers(clusters, api, settings):
    from django_q.models import Schedule

    from feeds.schedules import DAILY_PUSH, setup_schedules

    shop = Shop(api)
    feeds = [shop.feed("sched-1"), shop.feed("sched-2")]
    for feed in feeds:
        shop.write(feed, 30)
    # The push time a few seconds from now, in the deployment's time zone.
    soon = timezone.localtime() + dt.timedelta(seconds=5)
    settings.DAILY_PUSH_TIME = soon.time().replace(microsecond=0)
    setup_schedules()
    push = Schedule.objects.get(name=DAILY_PUSH)
    first_run = push.next_run
    assert first_run - timezone.now() < dt.timedelta(seconds=6)

    clusters()  # the scheduler looks every 30 seconds
    wait_for(all_delivered(feeds), 90, "the daily push")
    assert_exactly_once(shop, feeds)
    push.refresh_from_db()
    # Next at the same wall-clock time tomorrow.
    assert timezone.localtime(push.next_run).time() == timezone.localtime(first_run).time()
    assert timezone.localtime(push.next_run).date() == timezone.localdate(first_run) + dt.timedelta(
        days=1
    )
    assert set(
        BankTransaction.objects.values_list("delivery_batch__trigger", flat=True).distinct()
    ) == {"schedule"}


def test_update_delivers_that_feed_only_within_seconds(clusters, api):
    shop = Shop(api)
    pressed, other = shop.feed("upd-1"), shop.feed("upd-2")
    shop.write(pressed, 1500)
    shop.write(other, 20)
    clusters()
    start = time.monotonic()
    press_update(pressed)
    wait_for(all_delivered([pressed]), 30, "the Update")
    took = time.monotonic() - start
    assert sorted(received(pressed)) == sorted(shop.written[pressed.pk])
    time.sleep(2)  # anything wrongly queued for the other feed would have run by now
    assert received(other) == []
    assert (
        BankTransaction.objects.filter(
            source_account_id=other.source_account_id, delivery_state="pending"
        ).count()
        == 20
    )
    print(f"\nUpdate: 1500 transactions in the sandbox {took:.1f}s after the press")


def test_faults_503_timeouts_and_dropped_connections_deliver_exactly_once(clusters, api):
    shop = Shop(api)
    feeds = [shop.feed(f"fault-{n}") for n in range(3)]
    for feed in feeds:
        shop.write(feed, 1200)  # two batches each (1000 + 200)
    # 30 % of requests answer 503; 20 % wait 2 s longer than the client does (and are stored
    # all the same, as a real server would); 10 % drop the connection.
    set_faults(rate_503=0.3, rate_timeout=0.2, timeout_seconds=3.0, rate_drop=0.1, seed=7)
    clusters(QBO_READ_TIMEOUT="1", PUSH_BACKOFF_BASE_SECONDS="0.2", PUSH_BACKOFF_CAP_SECONDS="1")

    deadline = time.monotonic() + 180
    while not all_delivered(feeds)():
        assert time.monotonic() < deadline, "the faults never settled"
        # Runs that exhaust their retries leave the batch for the next run: press again.
        for feed in feeds:
            press_update(feed)
        wait_for(lambda: not _queued(), 60, "the pushes to finish", step=0.5)
        time.sleep(0.5)
    assert_exactly_once(shop, feeds)
    resends = ReceivedBatch.objects.aggregate(n=Sum("resends"))["n"]
    attempts = DeliveryBatch.objects.aggregate(n=Sum("attempts"))["n"]
    assert resends > 0, "no answer was lost: the faults did not exercise the batch id"
    assert attempts > DeliveryBatch.objects.count(), "no request failed: the faults were off"


def _queued() -> bool:
    """Whether push tasks are still waiting or running (queue, then unfinished pushes)."""
    from django_q.brokers import get_broker

    if get_broker().queue_size():
        return True
    started = AuditEvent.objects.filter(action="delivery.push_started").count()
    finished = AuditEvent.objects.filter(action="delivery.feed_pushed").count()
    return started != finished


def test_kill_9_in_the_middle_of_a_batch_loses_nothing_and_doubles_nothing(clusters, api):
    shop = Shop(api)
    feed = shop.feed("crash-1")
    shop.write(feed, 2500)  # three batches
    # Every request takes 3 s, so the kill lands while a batch is on the wire; the sandbox
    # stores it all the same (its answer is what is lost).
    set_faults(latency_ms=3000)
    cluster = clusters(FEED_PUSH_LEASE_SECONDS="5")
    press_update(feed)
    wait_for(
        lambda: DeliveryBatch.objects.filter(feed=feed, status="pending", attempts__gte=1).exists(),
        30,
        "a batch on the wire",
    )
    time.sleep(0.5)
    cluster.kill9()
    in_flight = DeliveryBatch.objects.get(feed=feed, status="pending", attempts__gte=1)
    # The pusher records the next batch while one is on the wire: it is left open behind it.
    behind = DeliveryBatch.objects.get(feed=feed, status="pending", attempts=0)
    assert behind.sequence == in_flight.sequence + 1
    wait_for(
        lambda: ReceivedBatch.objects.filter(batch_id=str(in_flight.batch_id)).exists(),
        10,
        "the sandbox to store the batch whose answer was lost",
    )

    set_faults(latency_ms=0)
    clusters(FEED_PUSH_LEASE_SECONDS="5")
    press_update(feed)  # on SQLite the dead pusher's claim holds ≤ 5 s; the push waits for it
    wait_for(all_delivered([feed]), 90, "delivery after the restart")
    assert_exactly_once(shop, [feed])
    received_batch = ReceivedBatch.objects.get(batch_id=str(in_flight.batch_id))
    assert received_batch.resends == 1
    assert DeliveryBatch.objects.get(pk=in_flight.pk).status == "delivered"
    assert ReceivedBatch.objects.get(batch_id=str(behind.batch_id)).resends == 0


def test_a_push_killed_mid_batch_resumes_by_itself_once_its_claim_runs_out(clusters, api):
    """Nothing is pressed after the kill: the every-minute schedule (`setup_schedules`, run by
    the new cluster's scheduler) finds the open batches whose claim ran out and queues the push.
    On Redis the task the killed cluster had taken is gone; on the database broker it would come
    back only after Q_RETRY (360 s)."""
    from feeds.schedules import PUSH_RESUME, setup_schedules

    shop = Shop(api)
    feed = shop.feed("resume-1")
    shop.write(feed, 2500)  # three batches
    assert PUSH_RESUME in {schedule.name for schedule, _ in setup_schedules()}
    set_faults(latency_ms=3000)  # the kill lands while a batch is on the wire
    cluster = clusters(FEED_PUSH_LEASE_SECONDS="5")
    press_update(feed)
    wait_for(
        lambda: DeliveryBatch.objects.filter(feed=feed, status="pending", attempts__gte=1).exists(),
        30,
        "a batch on the wire",
    )
    time.sleep(0.5)
    cluster.kill9()
    killed = time.monotonic()
    in_flight = DeliveryBatch.objects.get(feed=feed, status="pending", attempts__gte=1)
    wait_for(
        lambda: ReceivedBatch.objects.filter(batch_id=str(in_flight.batch_id)).exists(),
        10,
        "the sandbox to store the batch whose answer was lost",
    )
    set_faults(latency_ms=0)

    clusters(FEED_PUSH_LEASE_SECONDS="5")  # and nothing else
    # The claim runs out 5 s after the kill; the scheduler looks every 30 s at a schedule due
    # every minute: at most about 100 s.
    wait_for(all_delivered([feed]), 150, "the push to resume by itself", step=0.5)
    took = time.monotonic() - killed
    assert_exactly_once(shop, [feed])
    assert ReceivedBatch.objects.get(batch_id=str(in_flight.batch_id)).resends == 1
    assert AuditEvent.objects.filter(action="delivery.pushes_resumed").exists()
    print(f"\nresumed after a kill -9: every transaction delivered {took:.0f}s after the kill")


def test_two_clusters_never_push_one_feed_at_once_and_deliver_exactly_once(clusters, api):
    from feeds import tasks

    shop = Shop(api)
    feeds = [shop.feed(f"two-{n}") for n in range(6)]
    for feed in feeds:
        shop.write(feed, 1500)
    set_faults(latency_ms=150)  # pushes long enough to overlap if they could
    first, second = clusters(), clusters()
    # Every feed asked for three times at once: the daily push, an Update and an operator.
    for trigger in ("schedule", "update", "admin"):
        for feed in feeds:
            tasks.queue_push(feed.pk, trigger)
    wait_for(all_delivered(feeds), 180, "delivery by two clusters")
    wait_for(lambda: not _queued(), 60, "the pushes to finish")
    pids = {"first": first.pids(), "second": second.pids()}

    intervals = defaultdict(dict)
    for event in AuditEvent.objects.filter(
        action__in=["delivery.push_started", "delivery.feed_pushed"]
    ):
        intervals[event.object_id].setdefault(event.data["pusher"], {})[event.action] = event
    workers = set()
    for feed_id, pushes in intervals.items():
        spans = sorted(
            (p["delivery.push_started"].created, p["delivery.feed_pushed"].created)
            for p in pushes.values()
        )
        workers |= {p["delivery.push_started"].data["pid"] for p in pushes.values()}
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            assert end <= next_start, f"feed {feed_id} was pushed by two pushers at once"
    assert set(intervals) == {f.pk for f in feeds}
    # Both clusters did some of the work.
    assert workers & pids["first"] and workers & pids["second"]
    assert_exactly_once(shop, feeds)


def test_the_settings_the_worker_runs_with_are_safe():
    conf = django_settings.Q_CLUSTER
    assert conf["timeout"] < conf["retry"]
    assert conf["timeout"] > django_settings.PUSH_TASK_BUDGET_SECONDS
    assert conf["catch_up"] is False
