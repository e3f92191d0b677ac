"""Webhook delivery from a real worker to a local receiver, on SQLite and on PostgreSQL, against
a bare `requests.Session` loop posting the same signed bodies in the same run (issue 15).

For each database: a fresh database; an API client with one endpoint (made by
`feeds.webhooks.endpoints.create`, secret and all) pointing at the test receiver
(`tests/webhook_receiver.py`, a ThreadingHTTPServer in this process that verifies every request
with the standardwebhooks and svix verifiers; `--no-verify` turns that off, for both arms
alike); `--events` (5,000) recorded for one of its companies through `feeds.webhooks.outbox`
(`emit_many`, 1,000 to a transaction), so as many pending deliveries. Setting up is not timed
(the deliveries its commits would queue are not queued: the measure starts from an empty
queue).

- **linksite**: a `manage.py qcluster` (Q_WORKERS=2, the production default, as many as the
  VM's cores; the ORM broker polled every 0.5 s, as the other benchmarks), started once for the
  leg; once a trivial task has gone through it, the clock starts and `feeds.tasks.sweep_webhooks`
  is queued, as its schedule does every minute. It queues WEBHOOK_SENDERS_PER_ENDPOINT
  `send_webhooks` tasks for the endpoint, which claim, sign, POST and record the deliveries.
  The clock stops at the last delivery's `delivered` in the database, once all of them are
  delivered. So the queue's latency (two polls: the sweep, then its senders) is in the figure,
  as it is in production. Between runs (untimed), once the queue is empty, every delivery is
  set pending again.
- **bare loop**: one process, one `requests.Session`, POSTing the same stored bodies one
  after another, each with headers freshly signed by `feeds.webhooks.sending.signed_request`
  (the bodies and the secrets are read before the clock starts; nothing is written).

Each arm runs `--repeat` times (3), interleaved (bare loop, then linksite); the figures are the
medians, as events per second of each arm; the ratio is linksite's events/s over the bare loop's
(equivalently the bare loop's time over linksite's), target (issue 15) at least 80 %. Both arms
run on the same host, against the same receiver, in the same run; compare ratios from one run.
Writes bench/results/webhooks.json.

    .venv/bin/python bench/webhooks.py [--events 10000] [--repeat 3] [--workers 2] [--no-verify]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
from common import (  # noqa: E402
    DEFAULT_POSTGRES,
    ROOT,
    bench_connection,
    bench_env,
    each_database,
    save_results,
    stop,
)

sys.path.insert(0, str(ROOT))  # tests/webhook_receiver.py
from tests.webhook_receiver import Receiver  # noqa: E402

TARGET = 0.80
PER_TRANSACTION = 1000

# Inside a process whose DATABASE_URL points at the bench database ------------------------------


def _django():
    import django

    django.setup()


def inner_setup(url: str, count: int) -> dict:
    """Migrate; a client with one endpoint at `url`; `count` events of one of its companies,
    each with its delivery pending. What committing them would queue is not queued."""
    _django()
    import datetime as dt

    from django.utils import timezone
    from django_q.models import OrmQ

    from accounts.audit import Actor
    from feeds import tasks
    from feeds.models import WebhookDelivery
    from feeds.webhooks import catalogue, endpoints, outbox

    bench = bench_connection()
    endpoint, secret = endpoints.create(bench.client, url=url, actor=Actor.system("bench"))
    outbox.events_committed.disconnect(tasks._events_committed)
    reference = outbox.company_reference(bench.company)
    today = timezone.now()
    for first in range(0, count, PER_TRANSACTION):
        events = [
            (
                catalogue.DELIVERED,
                {
                    "id": f"00000000-0000-4000-8000-{i:012}",
                    "referenceCompany": reference,
                    "connectionId": str(bench.connection.pk),
                    "accountId": f"chk-{i % 50:03}",
                    "deliveredOnDate": today - dt.timedelta(seconds=i),
                    "delivery": "push",
                    "deliveredCount": 1 + i % 100,
                    "totalDelivered": 1 + i % 100,
                    "transactionCount": 100,
                    "complete": i % 100 == 99,
                },
            )
            for i in range(first, min(count, first + PER_TRANSACTION))
        ]
        outbox.emit_many(bench.company, events)
    OrmQ.objects.all().delete()
    pending = WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").count()
    assert pending == count, pending
    return {"endpoint": str(endpoint.pk), "secret": secret}


def inner_queue() -> dict:
    """Once a trivial task has gone through the cluster (it is up), the clock starts and the
    sweep is queued."""
    _django()
    from django_q.tasks import async_task, fetch

    warm = async_task("math.floor", 1.5)
    if fetch(warm, wait=60_000) is None:
        raise SystemExit("the cluster did not run the warm-up task")
    started = time.time()
    async_task("feeds.tasks.sweep_webhooks", task_name="bench sweep")
    return {"started": started}


def inner_reset(timeout: float = 60) -> dict:
    """Once the queue is empty (the last run's spare senders have ended), every delivery
    pending again, as recorded (on PostgreSQL the table vacuumed, as after a day's work)."""
    _django()
    from django.db import connection
    from django.utils import timezone
    from django_q.models import OrmQ

    from feeds.models import WebhookDelivery

    deadline = time.monotonic() + timeout
    while OrmQ.objects.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the queue did not empty")
        time.sleep(0.5)
    reset = WebhookDelivery.objects.update(
        status="pending",
        attempts=0,
        last_attempt=None,
        last_status_code=None,
        last_error="",
        latency_ms=None,
        delivered=None,
        next_attempt=timezone.now(),
        lease_owner="",
        lease_until=None,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE feeds_webhookdelivery")
    return {"reset": reset}


def inner_wait(started: float, count: int, timeout: float = 1800) -> dict:
    """Wait (polling every 0.5 s, with one connection) until `count` deliveries are delivered;
    from `started` to the last one's `delivered`."""
    _django()
    from django.db.models import Count, Max, Sum

    from feeds.models import WebhookDelivery

    delivered = WebhookDelivery.objects.filter(status="delivered")
    deadline = time.monotonic() + timeout
    while delivered.count() < count:
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.5)
    time.sleep(1)  # the task's last writes
    last = delivered.aggregate(last=Max("delivered"))["last"]
    statuses = dict(
        WebhookDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    attempts = WebhookDelivery.objects.aggregate(n=Sum("attempts"))["n"]
    return {
        "seconds": last.timestamp() - started,
        "statuses": statuses,
        "attempts": attempts,
    }


def inner_bare(endpoint_id: str) -> dict:
    """The baseline: the endpoint's stored bodies, each freshly signed, POSTed one after
    another on one Session."""
    _django()
    import requests

    from feeds.models import WebhookEndpoint, WebhookEvent
    from feeds.webhooks import sending

    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    seeds = sending.signing_seeds(endpoint)
    events = list(
        WebhookEvent.objects.filter(deliveries__endpoint=endpoint).order_by("generated", "pk")
    )
    session = requests.Session()
    started = time.perf_counter()
    for event in events:
        body, headers = sending.signed_request(event, seeds, int(time.time()))
        response = session.post(endpoint.url, data=body, headers=headers, timeout=(5, 15))
        assert response.status_code == 200, response.text
    return {"seconds": time.perf_counter() - started, "events": len(events)}


# The orchestration -------------------------------------------------------------------------------


def _inner(env: dict, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--inner", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_receiver(verify: bool) -> Receiver:
    """The test receiver, with TCP_NODELAY on its connections as any production server sets it:
    without it an answer's headers and body go in two segments, and the second waits for the
    client's delayed ACK (40 ms a request, in both arms alike, which is all either measured)."""
    made = Receiver(verify=verify)
    made.server.RequestHandlerClass.disable_nagle_algorithm = True
    return made


def run_leg(name: str, database_url: str, args: argparse.Namespace, tmp: Path) -> dict:
    count = args.events
    with make_receiver(args.verify) as receiver:
        env = bench_env(
            database_url,
            WEBHOOK_ALLOW_HTTP="1",
            WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1",
            Q_WORKERS=str(args.workers),
        )
        print(f"[{name}] recording {count:,} events", file=sys.stderr)
        made = _inner(env, "setup", receiver.url, str(count))
        receiver.secrets.append(made["secret"])

        log = tmp / f"qcluster-{name}.log"
        with log.open("wb") as out:
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        bares, workers = [], []
        try:
            for rep in range(1, args.repeat + 1):
                print(
                    f"[{name}] {rep}/{args.repeat}: the bare loop posts {count:,}", file=sys.stderr
                )
                bare = _inner(env, "bare", made["endpoint"])
                assert bare["events"] == count, bare
                bares.append(bare["seconds"])
                if rep > 1:
                    _inner(env, "reset")
                queued = _inner(env, "queue")
                print(
                    f"[{name}] {rep}/{args.repeat}: the worker delivers {count:,}", file=sys.stderr
                )
                worker = _inner(env, "wait", str(queued["started"]), str(count))
                assert worker["attempts"] == count, worker
                workers.append(worker["seconds"])
        finally:
            stop(cluster)
        answers = dict(receiver.answers)
        if args.verify and receiver.unverified:
            raise SystemExit(f"[{name}] {len(receiver.unverified)} requests not verified")
        if answers != {"200": 2 * args.repeat * count}:
            raise SystemExit(f"[{name}] the receiver answered {answers}")
    worker_s, bare_s = statistics.median(workers), statistics.median(bares)
    return {
        "database": name,
        "events": count,
        "workers": args.workers,
        "verified": args.verify,
        "repeat": args.repeat,
        "worker": {"seconds": worker_s, "events_per_s": count / worker_s, "runs": workers},
        "bare_loop": {"seconds": bare_s, "events_per_s": count / bare_s, "runs": bares},
        "ratio_of_bare_loop": bare_s / worker_s,
        "receiver_answers": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each arm, interleaved")
    parser.add_argument("--workers", type=int, default=2, help="the cluster's Q_WORKERS")
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="the receiver does not verify signatures (in both arms)",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        command, *rest = args.inner
        if command == "setup":
            answer = inner_setup(rest[0], int(rest[1]))
        elif command == "queue":
            answer = inner_queue()
        elif command == "reset":
            answer = inner_reset()
        elif command == "wait":
            answer = inner_wait(float(rest[0]), int(rest[1]))
        else:
            answer = inner_bare(rest[0])
        print(json.dumps(answer))
        return

    legs = each_database(
        args.postgres,
        "linksite_bench_webhooks",
        lambda name, url, tmp: run_leg(name, url, args, tmp),
    )
    print(
        f"Webhooks: {args.events:,} events to a local receiver"
        f" ({'verifying' if args.verify else 'not verifying'}), a worker of {args.workers}"
        " against a bare requests.Session loop"
    )
    print(
        f"{'database':<12}{'worker ev/s':>12}{'bare ev/s':>11}{'worker s':>10}{'bare s':>8}"
        f"{'ratio':>7}{'target':>8}"
    )
    for leg in legs:
        print(
            f"{leg['database']:<12}{leg['worker']['events_per_s']:>12.0f}"
            f"{leg['bare_loop']['events_per_s']:>11.0f}{leg['worker']['seconds']:>10.2f}"
            f"{leg['bare_loop']['seconds']:>8.2f}{leg['ratio_of_bare_loop']:>7.0%}"
            f"{'≥' + format(TARGET, '.0%'):>8}"
        )
    save_results("webhooks", legs)


if __name__ == "__main__":
    main()
