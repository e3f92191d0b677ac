"""How cost grows with the data, on SQLite and on PostgreSQL: the write path, the daily push and
the daily maintenance at 1x, 10x and 100x the accounts and stored transactions.

Base (1x): 5 linked source accounts with 1,000 delivered transactions each; 10x and 100x add
accounts (50, 500) with as many stored transactions each (so 5k, 50k, 500k stored). At each
scale, in the same process:
- write: a 1000-transaction write through the whole Django stack (in process) into an account
  of that database, median of 3 -> time per transaction;
- daily push: 20 new pending transactions on every account, delivered by the worker's code
  (`push_feed` per feed, as each fanned-out task does) to the sandbox under gunicorn over HTTP
  -> time per transaction;
- daily maintenance: a tenth of the feeds disabled 11 days ago -> time per source account.
Target: time per item within 1.5x of 1x at 10x and 100x. (The worker's peak memory against the
backlog is measured by bench/push.py.) Writes bench/results/growth.json.

    .venv/bin/python bench/growth.py [--base 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

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

SCALES = (1, 10, 100)
STORED_PER_ACCOUNT = 1000
PENDING_PER_ACCOUNT = 20


def measure(base: int) -> list[dict]:
    """Runs inside a process whose DATABASE_URL points at an empty database, with the sandbox
    served at QBO_BASE_URL."""
    import django

    django.setup()
    import datetime as dt

    from django.test import Client
    from django.utils import timezone

    from feeds.delivery.batches import feeds_to_push
    from feeds.delivery.push import push_feed
    from feeds.maintenance import run_daily_maintenance
    from feeds.models import BankTransaction, Feed, SourceAccount

    bench = bench_connection()
    company, connection, key = bench.company, bench.connection, bench.key
    today = timezone.localdate()
    now = timezone.now()
    accounts: list[SourceAccount] = []

    def new_account() -> SourceAccount:
        account = add_account(connection, f"acct-{len(accounts) + 1:05}")
        link_in_sandbox(account)
        add_transactions(
            account,
            STORED_PER_ACCOUNT,
            prefix="stored-",
            date=lambda i: today - dt.timedelta(days=7 - i * 7 // STORED_PER_ACCOUNT),
            delivered=now,
        )
        return account

    http = Client()
    headers = {"Authorization": f"Bearer {key}"}
    results = []
    for scale in SCALES:
        while len(accounts) < base * scale:
            accounts.append(new_account())
        print(f"scale {scale}x: {len(accounts)} accounts", file=sys.stderr)

        # Write path: three 1000-transaction writes into the newest account.
        target = accounts[-1]
        path = (
            f"/api/v1/companies/{company.pk}/connections/{connection.pk}/push/bankAccounts/"
            f"{target.account_id}/bankTransactions"
        )
        write_times = []
        for round_ in range(3):
            body = json.dumps(
                {
                    "accountId": target.account_id,
                    "transactions": [
                        {
                            "id": f"w{scale}-{round_}-{i:04}",
                            "clearedOnDate": today.isoformat(),
                            "amount": f"-{1 + i % 500}.{i % 100:02}",
                            "description": f"Card purchase #{i}",
                        }
                        for i in range(1000)
                    ],
                }
            )
            began = time.perf_counter()
            response = http.post(path, body, content_type="application/json", headers=headers)
            write_times.append(time.perf_counter() - began)
            assert response.status_code == 200 and response.json()["transactionCount"] == 1000
        # Those become part of what is stored, not of the push measured next.
        BankTransaction.objects.filter(delivery_state="pending").update(
            delivery_state="delivered", delivered=now
        )

        # Daily push: 20 pending on every account, delivered feed by feed.
        for account in accounts:
            add_transactions(
                account, PENDING_PER_ACCOUNT, prefix=f"p{scale}-", date=lambda i: today
            )
        pending = PENDING_PER_ACCOUNT * len(accounts)
        began = time.perf_counter()
        delivered = sum(push_feed(f, "schedule").delivered for f in feeds_to_push())
        push_seconds = time.perf_counter() - began
        assert delivered == pending, (delivered, pending)

        # Daily maintenance: a tenth of the feeds disabled in QBO 11 days ago.
        Feed.objects.filter(pk__in=[a.feeds.get().pk for a in accounts[::10]]).update(
            disabled_on_utc=now - dt.timedelta(days=11)
        )
        began = time.perf_counter()
        run_daily_maintenance()
        maintenance_seconds = time.perf_counter() - began
        Feed.objects.update(disabled_on_utc=None)
        SourceAccount.objects.update(status="connected")

        results.append(
            {
                "scale": scale,
                "accounts": len(accounts),
                "stored": BankTransaction.objects.count(),
                "write_ms_per_tx": statistics.median(write_times) * 1000 / 1000,
                "push_ms_per_tx": push_seconds * 1000 / pending,
                "maintenance_ms_per_account": maintenance_seconds * 1000 / len(accounts),
            }
        )
    return results


def run_leg(name: str, database_url: str, base: int) -> dict:
    port = free_port()
    env = bench_env(database_url, QBO_BASE_URL=f"http://127.0.0.1:{port}/qbo-sandbox/api/v1")
    # The schema must exist before gunicorn serves the sandbox.
    for database in ("default", "qbo_sandbox")[: 2 if "QBO_SANDBOX_DATABASE_URL" in env else 1]:
        migrate = [sys.executable, "manage.py", "migrate", "-v0", "--database", database]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    server = start_gunicorn(env, port, 2)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--inner", "--base", str(base)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        stop(server)
    return {"database": name, "scales": json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.base)))
        return
    legs = each_database(
        args.postgres, "linksite_bench_growth", lambda name, url, tmp: run_leg(name, url, args.base)
    )

    print("Growth: time per item at 1x, 10x, 100x the data, and its ratio to 1x (target ≤ 1.5)")
    for leg in legs:
        print(f"{leg['database']}:")
        first = leg["scales"][0]
        print(
            f"  {'scale':<7}{'accounts':>9}{'stored':>9}{'write ms/tx':>18}{'push ms/tx':>18}"
            f"{'maint. ms/acct':>20}"
        )
        for row in leg["scales"]:
            cells = []
            for key in ("write_ms_per_tx", "push_ms_per_tx", "maintenance_ms_per_account"):
                row[f"{key}_vs_1x"] = row[key] / first[key]
                cells.append(f"{row[key]:>9.3f} ({row[f'{key}_vs_1x']:.2f}x)")
            print(f"  {str(row['scale']) + 'x':<7}{row['accounts']:>9}{row['stored']:>9}", end="")
            print("".join(f"{c:>18}" if i < 2 else f"{c:>20}" for i, c in enumerate(cells)))
    save_results("growth", legs)


if __name__ == "__main__":
    main()
