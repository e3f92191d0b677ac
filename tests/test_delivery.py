"""Delivery to QBO, against the QBO sandbox over real HTTP (a live server): order, batches,
re-sending a recorded batch after a crash, retries through 503s, 410, one pusher per feed.
Only time is faked (the backoff's sleep); faults come from the sandbox's own settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import Actor
from feeds import feed_rules, tasks
from feeds.delivery import batches, claim, push
from feeds.models import BankTransaction, DeliveryBatch
from feeds.qbo.client import QboClient
from qbo_sandbox.models import (
    ChartAccount,
    FaultSettings,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    SandboxCompany,
)
from tests.makers import make_account, make_linked_feed, make_push, make_transaction

pytestmark = pytest.mark.django_db(transaction=True)


def no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
def feed(live_server, settings, alice):
    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    today = timezone.localdate()
    feed = make_linked_feed(alice.checking, chart("Checking"))
    for n, days_ago in enumerate([3, 1, 2, 0, 1]):
        make_transaction(
            alice.checking, f"t-{n}", cleared_on_date=today - dt.timedelta(days=days_ago)
        )
    return feed


def chart(name: str) -> ChartAccount:
    return ChartAccount.objects.get(company=SandboxCompany.current(), name=name)


def received_ids() -> list[str]:
    return list(ReceivedTransaction.objects.order_by("id").values_list("txn_id", flat=True))


def test_pending_transactions_go_out_in_order_in_batches(feed):
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2)
    assert (result.outcome, result.delivered, result.batches) == ("done", 5, 3)
    # clearedOnDate order, then write order within a day.
    assert received_ids() == ["t-0", "t-2", "t-1", "t-4", "t-3"]
    assert set(BankTransaction.objects.values_list("delivery_state", flat=True)) == {"delivered"}
    assert list(DeliveryBatch.objects.values_list("status", flat=True)) == ["delivered"] * 3
    again = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep)
    assert (again.outcome, again.delivered, again.batches) == ("done", 0, 0)


def test_a_batch_sent_before_a_crash_is_resent_with_its_batch_id_and_absorbed(feed):
    batch = batches.next_batch(feed, "schedule")
    # QBO received it, then the worker died before recording the answer.
    assert QboClient().push(feed.pk, batches.payload(batch)).status_code == 200
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep)
    assert (result.outcome, result.delivered) == ("done", 5)
    assert ReceivedTransaction.objects.count() == 5
    received = ReceivedBatch.objects.get(batch_id=str(batch.batch_id))
    assert received.accepted == 5
    assert LinkedFeed.objects.get(feed_id=feed.pk).duplicates == 5


def test_a_pusher_stopped_with_two_batches_open_resends_them_in_sequence(feed):
    # While batch 1 is on the wire the pusher records batch 2; it dies before marking either.
    first = batches.next_batch(feed, "schedule", size=2)
    assert QboClient().push(feed.pk, batches.payload(first)).status_code == 200
    second = batches.next_batch(feed, "schedule", size=2, after=first)
    assert (first.sequence, second.sequence) == (1, 2)
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2)
    assert (result.outcome, result.delivered, result.batches) == ("done", 5, 3)
    assert received_ids() == ["t-0", "t-2", "t-1", "t-4", "t-3"]
    assert LinkedFeed.objects.get(feed_id=feed.pk).duplicates == 2
    sent = DeliveryBatch.objects.order_by("sequence").values_list("batch_id", "status")
    assert list(sent)[:2] == [(first.batch_id, "delivered"), (second.batch_id, "delivered")]


def test_a_transaction_written_mid_push_with_an_earlier_date_is_not_left_behind(feed, alice):
    first = batches.next_batch(feed, "schedule", size=2)
    batches.payload(first)  # read while it is on the wire: the next batch starts after it
    make_transaction(
        alice.checking, "late", cleared_on_date=timezone.localdate() - dt.timedelta(days=5)
    )
    second = batches.next_batch(feed, "schedule", size=2, after=first)
    assert list(second.transactions.values_list("transaction_id", flat=True)) == ["t-1", "t-4"]
    # The push sends what is open, then looks again after letting go: nothing is left.
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2)
    assert (result.outcome, result.delivered) == ("done", 6)
    assert received_ids() == ["t-0", "t-2", "t-1", "t-4", "t-3", "late"]
    assert not BankTransaction.objects.filter(delivery_state="pending").exists()


def test_a_failed_batch_goes_out_again_before_the_one_recorded_behind_it(feed):
    faults = FaultSettings.load()
    faults.rate_503 = 1.0
    faults.save()
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2)
    assert (result.outcome, result.batches) == ("failed", 1)
    # The follower was recorded while the first batch was on the wire, and waits its turn.
    statuses = DeliveryBatch.objects.order_by("sequence").values_list("status", flat=True)
    assert list(statuses) == ["failed", "pending"]
    assert ReceivedTransaction.objects.count() == 0

    faults.rate_503 = 0.0
    faults.save()
    later = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2)
    assert (later.outcome, later.delivered) == ("done", 5)
    assert received_ids() == ["t-0", "t-2", "t-1", "t-4", "t-3"]
    assert list(statuses.all()) == ["delivered"] * 3


def test_503s_are_retried_with_backoff_then_left_for_the_next_run(feed, settings):
    faults = FaultSettings.load()
    faults.rate_503 = 1.0
    faults.save()
    waits = []
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=waits.append)
    assert result.outcome == "failed" and result.delivered == 0
    assert len(waits) == settings.PUSH_ATTEMPTS_PER_RUN - 1
    assert all(0 <= w <= settings.PUSH_BACKOFF_CAP_SECONDS for w in waits)
    batch = DeliveryBatch.objects.get()
    assert (batch.status, batch.attempts) == ("failed", settings.PUSH_ATTEMPTS_PER_RUN)
    assert batch.last_error.startswith("503")
    assert ReceivedTransaction.objects.count() == 0

    faults.rate_503 = 0.0
    faults.save()
    later = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep)
    assert (later.outcome, later.delivered) == ("done", 5)
    assert DeliveryBatch.objects.get().batch_id == batch.batch_id


def test_a_410_records_that_qbo_disconnected_the_feed(feed):
    LinkedFeed.objects.filter(feed_id=feed.pk).update(status="disconnected")
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep)
    assert result.outcome == "disconnected"
    feed.refresh_from_db()
    assert feed.disabled_on_utc is not None
    assert BankTransaction.objects.filter(delivery_state="delivered").count() == 0


def test_a_feed_is_pushed_by_one_process_at_a_time(feed):
    with claim.feed_claim(feed.pk, "another-worker") as held:
        assert held
        assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "busy"
        assert ReceivedTransaction.objects.count() == 0
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "done"


def test_a_crashed_pushers_claim_runs_out(feed, settings):
    # What a pusher killed mid-push leaves behind: its lease, and (on PostgreSQL) no lock.
    assert claim.take_lease(feed.pk, "crashed-worker")
    if db_connection.vendor == "postgresql":
        # Its row lock died with its connection: the feed is free at once.
        assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "done"
        return
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "busy"
    later = timezone.now() + dt.timedelta(seconds=settings.FEED_PUSH_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "done"
    assert ReceivedTransaction.objects.count() == 5


def test_the_lease_is_renewed_only_when_a_request_might_outlast_it(feed, settings):
    from feeds.models import Feed

    def until():
        return Feed.objects.values_list("push_lease_until", flat=True).get(pk=feed.pk)

    assert claim.take_lease(feed.pk, "me")
    taken = until()
    settings.FEED_PUSH_LEASE_SECONDS = 120  # ample for a 35 s request: no write per batch
    claim.Lease(feed.pk, "me").renew()
    assert until() == taken
    settings.FEED_PUSH_LEASE_SECONDS = 30  # a request could outlast it: renewed every time
    claim.Lease(feed.pk, "me").renew()
    assert until() != taken


def test_a_push_stops_after_its_budget_and_says_it_continues(feed):
    from django_q.models import OrmQ

    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep, batch_size=2, budget=0)
    # The budget is looked at before each batch: a push always makes progress.
    assert (result.outcome, result.batches, result.delivered) == ("continued", 1, 2)
    assert not OrmQ.objects.exists()  # queueing the rest is the task's (below)


def test_the_push_task_hands_what_its_budget_left_to_a_new_task(feed, alice, settings):
    from django_q.models import OrmQ

    operation = make_push(alice.checking)
    BankTransaction.objects.bulk_create(
        BankTransaction(
            source_account=alice.checking,
            transaction_id=f"bulk-{n}",
            push_operation=operation,
            cleared_on_date=timezone.localdate(),
            amount=Decimal("-1.00"),
            description="Coffee",
            transaction_type="Debit",
        )
        for n in range(batches.BATCH_SIZE)
    )
    settings.PUSH_TASK_BUDGET_SECONDS = 0
    result = tasks.push_feed(feed.pk, "schedule")
    assert (result["outcome"], result["batches"], result["delivered"]) == ("continued", 1, 1000)
    task = OrmQ.objects.get().task
    assert (task["func"], task["args"]) == ("feeds.tasks.push_feed", (feed.pk, "schedule"))


def test_an_update_that_finds_the_feed_busy_is_tried_again_when_the_claim_runs_out(feed):
    from django_q.models import OrmQ, Schedule

    with claim.feed_claim(feed.pk, "another-worker") as held:
        assert held
        assert tasks.push_feed(feed.pk, "update")["outcome"] == "busy"
        until = claim.lease_until(feed.pk)
    again = Schedule.objects.get(name=f"push {feed.pk} after claim")
    assert (again.func, again.args) == ("feeds.tasks.push_feed", repr((feed.pk, "update")))
    assert (again.schedule_type, again.next_run) == ("O", until + dt.timedelta(seconds=1))
    assert not OrmQ.objects.exists()
    # The daily push's own pass over a busy feed is not tried again: the holder looks again.
    Schedule.objects.all().delete()
    with claim.feed_claim(feed.pk, "another-worker"):
        assert tasks.push_feed(feed.pk, "schedule")["outcome"] == "busy"
    assert not Schedule.objects.exists()


def test_transactions_left_in_a_disconnected_feeds_batch_go_to_the_new_feed(feed, alice):
    LinkedFeed.objects.filter(feed_id=feed.pk).update(status="disconnected")
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "disconnected"
    assert DeliveryBatch.objects.get().status == "failed"
    # The SMB links the account again in QBO: a new feed.
    new = make_linked_feed(alice.checking, chart("Checking"), feed.feed_start_date)
    result = push.push_feed(new.pk, qbo=QboClient(), sleep=no_sleep)
    assert (result.outcome, result.delivered) == ("done", 5)
    assert sorted(received_ids()) == [f"t-{n}" for n in range(5)]


def card_feed(alice, transactions: int = 0):
    """A second feed, of Alice's card, linked in the sandbox too."""
    card = make_linked_feed(alice.card, chart("Visa"), timezone.localdate())
    for n in range(transactions):
        make_transaction(alice.card, f"c-{n}", cleared_on_date=timezone.localdate())
    return card


def test_the_daily_push_queues_the_feeds_with_something_to_deliver_a_few_to_a_task(
    feed, alice, bob, settings
):
    from django_q.models import OrmQ

    idle = card_feed(alice)
    assert batches.feeds_to_push() == [feed.pk]
    assert tasks.queue_daily_push() == 1
    task = OrmQ.objects.get().task
    assert (task["func"], task["args"]) == ("feeds.tasks.push_feeds", ([feed.pk], "schedule"))
    assert idle.pk not in batches.feeds_to_push()

    OrmQ.objects.all().delete()
    make_transaction(alice.card, "c-0", cleared_on_date=timezone.localdate())
    third = feed_rules.link_feed(
        bob.chequing,
        target_account_id="52",
        target_account_name="Bob's checking",
        target_account_type="Bank",
        feed_start_date=timezone.localdate(),
        actor=Actor.system(),
    )
    make_transaction(bob.chequing, "b-0", cleared_on_date=timezone.localdate())
    settings.PUSH_FEEDS_PER_TASK = 2
    assert tasks.queue_daily_push() == 3
    queued = [q.task["args"] for q in OrmQ.objects.order_by("id")]
    assert queued == [([feed.pk, idle.pk], "schedule"), ([third.pk], "schedule")]


def test_a_task_of_several_feeds_delivers_each_and_queues_what_its_budget_left(
    feed, alice, settings
):
    from django_q.models import OrmQ

    card = card_feed(alice, transactions=3)
    pushed = push.push_feeds([feed.pk, card.pk], "schedule")
    assert (pushed.outcomes, pushed.continued, pushed.not_reached) == ({"done": 2}, [], [])
    assert sorted(received_ids()) == ["c-0", "c-1", "c-2", *(f"t-{n}" for n in range(5))]
    assert not OrmQ.objects.exists()

    make_transaction(alice.checking, "t-5", cleared_on_date=timezone.localdate())
    make_transaction(alice.card, "c-3", cleared_on_date=timezone.localdate())
    # No time left: the first feed still goes (every task makes progress), the rest waits.
    settings.PUSH_TASK_BUDGET_SECONDS = 0
    assert tasks.push_feeds([feed.pk, card.pk], "schedule") == {
        "done": 1,
        "queued again": 1,
    }
    assert "t-5" in received_ids() and "c-3" not in received_ids()
    task = OrmQ.objects.get().task
    assert (task["func"], task["args"]) == ("feeds.tasks.push_feeds", ([card.pk], "schedule"))


def test_a_task_pushes_its_feeds_several_at_a_time_each_exactly_once(feed, alice, settings):
    """PUSH_FEEDS_THREADS (issue 18): feeds overlap, each under its own claim; every
    transaction reaches QBO once, and a budget spent keeps the order of what is left."""
    feeds = [feed]
    for n in range(5):
        account = make_account(alice.connection, f"extra-{n}", account_name=f"Extra {n}")
        target = ChartAccount.objects.create(
            company=SandboxCompany.current(), name=f"Bank {n}", account_type="Bank"
        )
        feeds.append(make_linked_feed(account, target, timezone.localdate()))
        for m in range(3):
            make_transaction(account, f"x-{n}-{m}", cleared_on_date=timezone.localdate())
    pushed = push.push_feeds([f.pk for f in feeds], "schedule", threads=3)
    assert (pushed.outcomes, pushed.continued, pushed.not_reached) == ({"done": 6}, [], [])
    ids = received_ids()
    assert len(ids) == len(set(ids)) == 5 + 15
    assert not BankTransaction.objects.exclude(delivery_state="delivered").exists()
    # No time left: the first feed goes, the others wait, in their order.
    for n, account_feed in enumerate(feeds):
        make_transaction(
            account_feed.source_account, f"late-{n}", cleared_on_date=timezone.localdate()
        )
    pushed = push.push_feeds([f.pk for f in feeds], "schedule", budget=0, threads=3)
    assert pushed.not_reached == [f.pk for f in feeds[1:]]
    assert "late-0" in received_ids() and "late-1" not in received_ids()


def test_pushfeeds_delivers_from_a_shell_with_progress_and_a_summary(feed):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("pushfeeds", "--all", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[##############################] 1/1 ")
    assert lines[0].endswith(": done, 5 delivered")
    assert lines[-1] == "1 feed(s) pushed, 5 transaction(s) delivered: 1 done."
    assert ReceivedTransaction.objects.count() == 5
    with pytest.raises(CommandError, match="Unknown feed"):
        call_command("pushfeeds", "--feed", "fd_nope", stdout=StringIO())


@pytest.mark.parametrize("answer", [b"", b'{"accepted": 4, "duplicates": 0}', b"HTTP/1.1 414"])
def test_a_200_without_qbos_whole_answer_is_not_taken_for_a_delivery(feed, answer):
    """A fault no sandbox setting makes: a 200 whose body is cut short or is not the answer for
    this batch (a proxy, bytes left on a kept-alive connection). It is retried, not trusted."""
    import http.server
    import threading

    class Garbled(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        qbo = QboClient(base_url=f"http://127.0.0.1:{server.server_port}")
        result = push.push_feed(feed.pk, qbo=qbo, sleep=no_sleep)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.outcome, result.delivered) == ("failed", 0)
    assert "incomplete answer" in result.error
    assert not BankTransaction.objects.filter(delivery_state="delivered").exists()
    # The same batch goes out again to the real QBO, and only then counts.
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).delivered == 5


# Resuming what a crash cut short (the every-minute sweep, `tasks.resume_pushes`) ---------------


def crashed_mid_push(feed, size: int = 2):
    """What a pusher killed with a batch on the wire leaves: its lease, and the batch recorded
    with one attempt (on PostgreSQL its row lock went with its connection)."""
    assert claim.take_lease(feed.pk, "crashed-worker")
    batch = batches.next_batch(feed, "update", size)
    batches.record_attempt(batch)
    return batch


def test_pending_transactions_never_batched_wait_for_the_daily_push_in_one_query(
    feed, django_assert_num_queries
):
    from django_q.models import OrmQ

    with django_assert_num_queries(1):
        assert batches.feeds_to_resume() == []
    assert tasks.resume_pushes() == 0
    assert not OrmQ.objects.exists()
    # A push that ended well leaves nothing to resume either.
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "done"
    with django_assert_num_queries(1):
        assert batches.feeds_to_resume() == []


def test_a_push_cut_short_is_resumed_once_its_claim_runs_out_and_not_queued_twice(feed, settings):
    from django_q.models import OrmQ

    batch = crashed_mid_push(feed)
    now = timezone.now()
    # The claim still runs: it might be a live pusher.
    assert batches.feeds_to_resume(now) == []
    ran_out = now + dt.timedelta(seconds=settings.FEED_PUSH_LEASE_SECONDS + 1)
    assert batches.feeds_to_resume(ran_out) == [feed.pk]
    with time_machine.travel(ran_out, tick=False):
        assert tasks.resume_pushes() == 1
        task = OrmQ.objects.get().task
        assert (task["func"], task["args"]) == ("feeds.tasks.push_feeds", ([feed.pk], "schedule"))
        # Queued: the next minutes' sweeps leave it to that task.
        assert tasks.resume_pushes() == 0
    again = ran_out + tasks.RESUME_AGAIN_AFTER + dt.timedelta(seconds=1)
    # The task was lost (a broker without acknowledgement, a second crash): queued again.
    assert batches.feeds_to_resume(again) == [feed.pk]
    with time_machine.travel(again, tick=False):
        assert tasks.push_feeds([feed.pk]) == {"done": 1}
    assert sorted(received_ids()) == [f"t-{n}" for n in range(5)]
    assert ReceivedBatch.objects.get(batch_id=str(batch.batch_id)).resends == 0
    assert set(DeliveryBatch.objects.values_list("status", flat=True)) == {"delivered"}
    assert batches.feeds_to_resume(again + dt.timedelta(hours=1)) == []


def test_a_batch_failed_for_its_run_is_sent_again_when_its_next_attempt_comes(feed):
    faults = FaultSettings.load()
    faults.rate_503 = 1.0
    faults.save()
    assert push.push_feed(feed.pk, qbo=QboClient(), sleep=no_sleep).outcome == "failed"
    failed = DeliveryBatch.objects.get()
    assert failed.status == "failed"
    # The push let go of the feed: only the batch's own next attempt holds it back.
    assert batches.feeds_to_resume() == []
    assert batches.feeds_to_resume(failed.next_attempt - dt.timedelta(seconds=1)) == []
    assert batches.feeds_to_resume(failed.next_attempt) == [feed.pk]
    faults.rate_503 = 0.0
    faults.save()
    with time_machine.travel(failed.next_attempt, tick=False):
        assert tasks.resume_pushes() == 1
        assert tasks.push_feeds([feed.pk]) == {"done": 1}
    assert DeliveryBatch.objects.get().status == "delivered"
    assert len(received_ids()) == 5


def test_rejected_pulled_and_ended_feeds_and_pull_mode_are_not_resumed(feed, settings):
    from feeds.models import DeliveryStatus, Feed

    batch = crashed_mid_push(feed)
    later = timezone.now() + dt.timedelta(seconds=settings.FEED_PUSH_LEASE_SECONDS + 1)
    assert batches.feeds_to_resume(later) == [feed.pk]
    settings.QBO_DELIVERY = frozenset({"pull"})
    assert batches.feeds_to_resume(later) == []
    settings.QBO_DELIVERY = frozenset({"push", "pull"})
    Feed.objects.filter(pk=feed.pk).update(delivery="pull")
    assert batches.feeds_to_resume(later) == []
    Feed.objects.filter(pk=feed.pk).update(delivery="push")
    DeliveryBatch.objects.filter(pk=batch.pk).update(status=DeliveryStatus.REJECTED)
    assert batches.feeds_to_resume(later) == []
    DeliveryBatch.objects.filter(pk=batch.pk).update(status=DeliveryStatus.PENDING)
    Feed.objects.filter(pk=feed.pk).update(ended=timezone.now())
    assert batches.feeds_to_resume(later) == []


def test_marking_a_batch_delivered_does_not_scan_every_pending_row(alice):
    # Before the statistics know them (a backlog just written, not yet analyzed), PostgreSQL's
    # planner ANDed the partial index of all pending rows into each batch's mark.
    if db_connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    feed = make_linked_feed(alice.checking, chart("Checking"))
    for n in range(100):
        make_transaction(alice.checking, f"t-{n}")
    elsewhere = make_account(alice.checking.connection, "elsewhere")
    seed = make_transaction(elsewhere, "seed")
    columns = [f.column for f in BankTransaction._meta.concrete_fields if f.name != "id"]
    copied = ", ".join("'bulk-' || n" if c == "transaction_id" else f'"{c}"' for c in columns)
    # The model's own column names.
    copy = f"INSERT INTO feeds_banktransaction ({', '.join(columns)}) SELECT {copied} "  # noqa: S608
    copy += "FROM feeds_banktransaction, generate_series(1, 20000) n WHERE id = %s"
    with db_connection.cursor() as cursor:
        cursor.execute(copy, [seed.pk])
    batch = batches.next_batch(feed, "schedule")
    with CaptureQueriesContext(db_connection) as captured:
        assert batches.mark_delivered(batch) == 100
    (mark,) = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('UPDATE "feeds_banktransaction"')
    ]
    with db_connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {mark}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "delivery_batch_id" in plan and "txn_pending" not in plan, plan
