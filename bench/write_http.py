"""The write path end to end over HTTP, on SQLite and on PostgreSQL.

For each database: a fresh database, linksite under gunicorn (the production server the README
recommends, `--workers 4`), and one client thread per source account POSTing 1000-transaction
batches through the real HTTP stack; transactions per second from the first request to the last
answer. Baselines in the same run: the same rows inserted with a bare ORM `bulk_create`, and on
PostgreSQL with `COPY`. Target: the API reaches at least 50 % of the `bulk_create` rate.
Writes bench/results/write_http.json.

    .venv/bin/python bench/write_http.py [--accounts 4] [--batches 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
from common import (  # noqa: E402
    add_account,
    add_operation,
    bench_connection,
    bench_env,
    each_database,
    free_port,
    link,
    save_results,
    start_gunicorn,
    stop,
    transaction_rows,
)

GUNICORN_WORKERS = 4


def _rows(prefix: str, count: int, today) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{i:06}",
            "clearedOnDate": today.isoformat(),
            "amount": round(-(1 + i % 500) - (i % 100) / 100, 2),
            "description": f"Card purchase #{i} at a coffee roaster, Montréal QC",
            "balance": 10000 - i % 9000,
        }
        for i in range(count)
    ]


def inner_setup(accounts: int) -> dict:
    import django

    django.setup()
    bench = bench_connection()
    company, connection = bench.company, bench.connection
    paths = []
    for n in range(accounts + 1):  # the last one is for the baselines
        link(add_account(connection, f"acct-{n}", f"Account {n}"), str(n), f"Bank {n}")
        paths.append(
            f"/api/v1/companies/{company.pk}/connections/{connection.pk}/push/bankAccounts/"
            f"acct-{n}/bankTransactions"
        )
    key = bench.key
    return {"key": key, "paths": paths[:-1], "baseline_account": f"acct-{accounts}"}


def inner_baselines(total: int) -> dict:
    """bulk_create (and COPY on PostgreSQL) of `total` rows like the API's, in batches of 1000."""
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from feeds.models import BankTransaction, SourceAccount

    account = SourceAccount.objects.get(account_id=os.environ["BASELINE_ACCOUNT"])
    operation = add_operation(account)
    today = timezone.localdate()

    def objects(prefix: str, start: int) -> list[BankTransaction]:
        return transaction_rows(
            account,
            operation,
            range(start, start + 1000),
            prefix=f"{prefix}-",
            date=lambda i: today,
            description="Card purchase #{i} at a coffee roaster, Montréal QC",
            balance=True,
        )

    result = {}
    began = time.perf_counter()
    for start in range(0, total, 1000):
        BankTransaction.objects.bulk_create(objects("bulk", start))
    result["bulk_create_seconds"] = time.perf_counter() - began

    if connection.vendor == "postgresql":
        table = BankTransaction._meta.db_table
        columns = [
            "source_account_id",
            "transaction_id",
            "cleared_on_date",
            "amount",
            "description",
            "transaction_type",
            "balance",
            "push_operation_id",
            "delivery_state",
            "created",
        ]
        now = timezone.now()
        began = time.perf_counter()
        for start in range(0, total, 1000):
            rows = [
                (
                    account.pk,
                    f"copy-{i:07}",
                    today,
                    Decimal(f"-{1 + i % 500}.{i % 100:02}"),
                    f"Card purchase #{i} at a coffee roaster, Montréal QC",
                    "Debit",
                    Decimal(f"{10000 - i % 9000}.00"),
                    operation.pk,
                    "pending",
                    now,
                )
                for i in range(start, start + 1000)
            ]
            with connection.cursor() as cursor:
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        result["copy_seconds"] = time.perf_counter() - began
    return result


def run_leg(name: str, database_url: str, accounts: int, batches: int) -> dict:
    import requests

    port = free_port()
    env = bench_env(database_url)
    setup = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--inner", "setup", str(accounts)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
    )
    server = start_gunicorn(env, port, GUNICORN_WORKERS)
    try:
        import datetime as dt
        import zoneinfo

        zone = zoneinfo.ZoneInfo(os.environ.get("TIME_ZONE", "America/Toronto"))
        today = dt.datetime.now(zone).date()
        bodies = {
            path: [
                json.dumps(
                    {"accountId": path.split("/")[-2], "transactions": _rows(f"b{b}", 1000, today)}
                ).encode()
                for b in range(batches + 1)
            ]
            for path in setup["paths"]
        }
        headers = {"Authorization": f"Bearer {setup['key']}", "Content-Type": "application/json"}
        errors: list[str] = []

        def client(path: str, rounds: range) -> None:
            with requests.Session() as session:
                for b in rounds:
                    answer = session.post(
                        f"http://127.0.0.1:{port}{path}", data=bodies[path][b], headers=headers
                    )
                    if answer.status_code != 200 or answer.json()["transactionCount"] != 1000:
                        errors.append(answer.text[:300])

        # A warm-up round per account (not counted), then the measured rounds, all at once.
        for path in setup["paths"]:
            client(path, range(0, 1))
        threads = [
            threading.Thread(target=client, args=(path, range(1, batches + 1)))
            for path in setup["paths"]
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        if errors:
            raise SystemExit(f"{len(errors)} writes failed, e.g. {errors[0]}")
    finally:
        stop(server)
    total = accounts * batches * 1000
    baselines = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--inner", "baselines", str(total)],
            env={**env, "BASELINE_ACCOUNT": setup["baseline_account"]},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
    )
    result = {
        "database": name,
        "transactions": total,
        "api_seconds": seconds,
        "api_tx_per_s": total / seconds,
        "bulk_create_tx_per_s": total / baselines["bulk_create_seconds"],
    }
    if "copy_seconds" in baselines:
        result["copy_tx_per_s"] = total / baselines["copy_seconds"]
    result["ratio_of_bulk_create"] = result["api_tx_per_s"] / result["bulk_create_tx_per_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        command, count = args.inner
        answer = inner_setup(int(count)) if command == "setup" else inner_baselines(int(count))
        print(json.dumps(answer))
        return

    legs = each_database(
        args.postgres,
        "linksite_bench_write",
        lambda name, url, tmp: run_leg(name, url, args.accounts, args.batches),
    )

    print(
        f"Writes over HTTP (gunicorn, {GUNICORN_WORKERS} workers): {args.accounts} accounts in "
        f"parallel x {args.batches} batches of 1000"
    )
    print(f"{'database':<12}{'API tx/s':>10}{'bulk_create':>13}{'COPY':>9}", end="")
    print(f"{'API/bulk':>10}{'target':>8}")
    for leg in legs:
        copy = f"{leg['copy_tx_per_s']:>9.0f}" if "copy_tx_per_s" in leg else f"{'-':>9}"
        print(
            f"{leg['database']:<12}{leg['api_tx_per_s']:>10.0f}{leg['bulk_create_tx_per_s']:>13.0f}"
            f"{copy}{leg['ratio_of_bulk_create']:>10.0%}{'≥50%':>8}"
        )
    save_results("write_http", legs)


if __name__ == "__main__":
    main()
