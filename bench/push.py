"""Delivery from a real worker to the QBO sandbox over HTTP, on SQLite and on PostgreSQL.

For each database: a fresh database, the sandbox served by gunicorn, and a fresh
`manage.py qcluster` per scenario, pushing one feed's backlog of 2,000 then 200,000 pending
transactions (batches of 1000). Measures the delivery rate (first batch recorded to last
delivered, from the database) and the worker processes' peak memory (VmHWM, from /proc);
the baseline in the same run POSTs the same number of signed 1000-transaction payloads to the
same sandbox endpoint from a bare loop with one `requests.Session`. Writes
bench/results/push.json.

    .venv/bin/python bench/push.py [--small 2000] [--large 200000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
from common import (  # noqa: E402
    ROOT,
    add_account,
    add_transactions,
    bench_connection,
    bench_env,
    each_database,
    free_port,
    link_in_sandbox,
    save_results,
    start_gunicorn,
    stop,
)

FAN_WORKERS = 2  # the cluster's workers for the daily push (as many as the VM's cores)

# Inside a process whose DATABASE_URL points at the bench database ------------------------------


def _django():
    import django

    django.setup()


def inner_setup(counts: list[int], fan_feeds: int = 0, fan_each: int = 0) -> dict:
    """Migrate; one linked feed per backlog (and one for the bare loop), transactions pending;
    then `fan_feeds` more feeds with `fan_each` pending each."""
    _django()
    import datetime as dt

    from django.utils import timezone

    bench = bench_connection()
    today = timezone.localdate()
    feeds = {}
    plan = [
        *((f"backlog-{n}", n) for n in counts),
        ("bare-loop", 0),
        *((f"fan-{n:05}", fan_each) for n in range(fan_feeds)),
    ]
    for name, count in plan:
        account = add_account(bench.connection, name)
        feed = link_in_sandbox(account)
        add_transactions(
            account,
            count,
            prefix=f"{name}-",
            date=lambda i: today - dt.timedelta(days=i % 7),
            description="Card purchase #{i} at a coffee roaster, Montréal QC",
            balance=True,
        )
        if not name.startswith("fan-"):
            feeds[name] = feed.pk
    return feeds


def inner_daily() -> dict:
    _django()
    from feeds import tasks

    return {"queued": tasks.queue_daily_push()}


def inner_wait_schedule(timeout: float = 1800) -> dict:
    """Wait (polling cheaply, in this one process) until nothing is pending; the span of the
    daily push's batches."""
    _django()
    from django.db.models import Max, Min

    from feeds.models import BankTransaction, DeliveryBatch

    _poll(lambda: not BankTransaction.objects.filter(delivery_state="pending").exists(), timeout)
    span = DeliveryBatch.objects.filter(trigger="schedule").aggregate(
        first=Min("created"), last=Max("delivered")
    )
    return {"seconds": (span["last"] - span["first"]).total_seconds()}


def _poll(done, timeout: float) -> None:
    """Every 0.5 s, with one connection: polling from a new process each time (django.setup
    and a count of 200,000 rows) took a core away from the worker being measured."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.5)
    time.sleep(1)  # the task's last writes


def inner_queue(feed_id: str) -> dict:
    _django()
    from feeds import tasks

    return {"task": tasks.queue_push(feed_id, "admin")}


def inner_wait(feed_id: str, timeout: float = 1800) -> dict:
    """Wait until the feed has nothing pending; the span of its batches."""
    _django()
    from django.db.models import Max, Min

    from feeds.models import BankTransaction, DeliveryBatch, Feed

    feed = Feed.objects.get(pk=feed_id)
    pending = BankTransaction.objects.filter(
        source_account_id=feed.source_account_id, delivery_state="pending"
    )
    _poll(lambda: not pending.exists(), timeout)
    span = DeliveryBatch.objects.filter(feed=feed).aggregate(
        first=Min("created"), last=Max("delivered")
    )
    return {"seconds": (span["last"] - span["first"]).total_seconds()}


def inner_bare(feed_id: str, count: int, size: int = 1000) -> dict:
    """The baseline: the same payloads, signed, POSTed one after another on one Session."""
    _django()
    import datetime as dt
    import uuid

    import requests
    from django.conf import settings
    from django.utils import timezone

    from feeds.qbo import signing

    session = requests.Session()
    url = f"{settings.QBO_BASE_URL}/feeds/{feed_id}/transactions"
    today = timezone.localdate()
    start = time.perf_counter()
    for first in range(0, count, size):
        body = {
            "batchId": str(uuid.uuid4()),
            "transactions": [
                {
                    "id": f"bare-{size}-{i:07}",
                    "date": (today - dt.timedelta(days=i % 7)).isoformat(),
                    "clearedOnDate": (today - dt.timedelta(days=i % 7)).isoformat(),
                    "amount": f"-{1 + i % 500}.{i % 100:02}",
                    "currency": "USD",
                    "description": f"Card purchase #{i} at a coffee roaster, Montréal QC",
                    "transactionType": "Debit",
                    "balance": f"{10000 - i % 9000}.00",
                }
                for i in range(first, min(count, first + size))
            ],
        }
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            **signing.sign(
                settings.QBO_PARTNER_KEY,
                settings.QBO_SIGNING_SECRET,
                "POST",
                urlsplit(url).path,
                data,
            ),
        }
        response = session.post(url, data=data, headers=headers, timeout=(5, 60))
        assert response.status_code == 200, response.text
    return {"seconds": time.perf_counter() - start}


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


def _peak_rss_mb(group: int) -> float:
    """The largest VmHWM (peak resident memory) among the processes of a group."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return peak / 1024


def run_leg(
    name: str, database_url: str, small: int, large: int, fan: tuple[int, int], tmp: Path
) -> dict:
    port = free_port()
    env = bench_env(
        database_url, QBO_BASE_URL=f"http://127.0.0.1:{port}/qbo-sandbox/api/v1", Q_WORKERS="1"
    )
    print(f"[{name}] setting up {small:,} and {large:,} pending transactions", file=sys.stderr)
    feeds = _inner(env, "setup", str(small), str(large), f"fan={fan[0]}x{fan[1]}")
    server = start_gunicorn(env, port, 2)
    try:
        result = {"database": name}
        for count in (small, large):
            feed_id = feeds[f"backlog-{count}"]
            log = tmp / f"qcluster-{name}-{count}.log"
            with log.open("wb") as out:
                cluster = subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                _inner(env, "queue", feed_id)
                print(f"[{name}] the worker delivers {count:,}", file=sys.stderr)
                state = _inner(env, "wait", feed_id)
                result[f"worker_{count}"] = {
                    "seconds": state["seconds"],
                    "tx_per_s": count / state["seconds"],
                    "peak_rss_mb": _peak_rss_mb(cluster.pid),
                }
            finally:
                stop(cluster)
        print(f"[{name}] the bare loop posts {large:,}", file=sys.stderr)
        bare = _inner(env, "bare", feeds["bare-loop"], str(large))
        result["bare_loop"] = {"seconds": bare["seconds"], "tx_per_s": large / bare["seconds"]}
        result["ratio_of_bare_loop"] = (
            result[f"worker_{large}"]["tx_per_s"] / result["bare_loop"]["tx_per_s"]
        )
        result["memory_ratio"] = (
            result[f"worker_{large}"]["peak_rss_mb"] / result[f"worker_{small}"]["peak_rss_mb"]
        )
        if fan[0]:
            result.update(_fan_out(name, env, feeds, fan, tmp))
        return result
    finally:
        stop(server)


def _fan_out(name: str, env: dict, feeds: dict, fan: tuple[int, int], tmp: Path) -> dict:
    """The daily push of many small feeds (PUSH_FEEDS_PER_TASK to a task), a cluster with
    FAN_WORKERS workers."""
    count, each = fan
    log = tmp / f"qcluster-{name}-fan.log"
    with log.open("wb") as out:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_WORKERS": str(FAN_WORKERS)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        print(f"[{name}] the daily push of {count:,} feeds x {each}", file=sys.stderr)
        _inner(env, "daily")
        state = _inner(env, "wait-schedule")
    finally:
        stop(cluster)
    total = count * each
    print(f"[{name}] the bare loop posts {count:,} x {each}", file=sys.stderr)
    bare = _inner(env, "bare", feeds["bare-loop"], str(total), str(each))
    worker = total / state["seconds"]
    return {
        "daily_push": {
            "feeds": count,
            "per_feed": each,
            "seconds": state["seconds"],
            "tx_per_s": worker,
        },
        "bare_loop_small_batches": {
            "seconds": bare["seconds"],
            "tx_per_s": total / bare["seconds"],
        },
        "daily_push_ratio_of_bare_loop": worker / (total / bare["seconds"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--fan", default="2000x100", help="FEEDSxEACH for the daily push")
    parser.add_argument(
        "--fan-workers", type=int, default=2, help="the cluster's workers for the daily push"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        command, *rest = args.inner
        if command == "setup":
            fan = [r for r in rest if r.startswith("fan=")]
            feeds, each = (int(n) for n in fan[0][4:].split("x")) if fan else (0, 0)
            answer = inner_setup([int(n) for n in rest if not n.startswith("fan=")], feeds, each)
        elif command == "daily":
            answer = inner_daily()
        elif command == "wait-schedule":
            answer = inner_wait_schedule()
        elif command == "queue":
            answer = inner_queue(rest[0])
        elif command == "wait":
            answer = inner_wait(rest[0])
        else:
            answer = inner_bare(rest[0], *(int(n) for n in rest[1:]))
        print(json.dumps(answer))
        return

    fan = tuple(int(n) for n in args.fan.split("x"))
    global FAN_WORKERS
    FAN_WORKERS = args.fan_workers
    legs = each_database(
        args.postgres,
        "linksite_bench_push",
        lambda name, url, tmp: run_leg(name, url, args.small, args.large, fan, tmp),
    )

    small, large = args.small, args.large
    print(f"Push to the sandbox over HTTP: a worker delivering {small:,} and {large:,} pending")
    print(
        f"{'database':<12}{'worker tx/s':>12}{'bare tx/s':>11}{'ratio':>7}{'target':>8}"
        f"{'peak MB ' + format(small, ','):>16}{'peak MB ' + format(large, ','):>18}"
        f"{'ratio':>7}{'target':>8}"
    )
    for leg in legs:
        print(
            f"{leg['database']:<12}{leg[f'worker_{large}']['tx_per_s']:>12.0f}"
            f"{leg['bare_loop']['tx_per_s']:>11.0f}{leg['ratio_of_bare_loop']:>7.0%}{'≥85%':>8}"
            f"{leg[f'worker_{small}']['peak_rss_mb']:>16.1f}"
            f"{leg[f'worker_{large}']['peak_rss_mb']:>18.1f}"
            f"{leg['memory_ratio']:>7.2f}{'≤1.5':>8}"
        )
    if fan[0]:
        print(
            f"Daily push: {fan[0]:,} feeds x {fan[1]} pending, 20 feeds to a task, "
            f"{FAN_WORKERS} workers"
        )
        print(f"{'database':<12}{'worker tx/s':>12}{'bare tx/s':>11}{'ratio':>7}{'target':>8}")
        for leg in legs:
            print(
                f"{leg['database']:<12}{leg['daily_push']['tx_per_s']:>12.0f}"
                f"{leg['bare_loop_small_batches']['tx_per_s']:>11.0f}"
                f"{leg['daily_push_ratio_of_bare_loop']:>7.0%}{'≥80%':>8}"
            )
    save_results("push", legs)


if __name__ == "__main__":
    main()
