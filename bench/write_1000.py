"""How long a 1000-transaction write takes, on SQLite and on PostgreSQL.

Each round POSTs 1000 new transactions to one connected account through the whole Django stack
(middleware, auth, validation, the all-or-nothing insert, the push operation) in process, and
the baseline inserts the same 1000 rows with a bare `bulk_create` in the same run. Prints the
median and spread of each and their ratio; writes bench/results/write_1000.json.

    .venv/bin/python bench/write_1000.py [--rounds 9] [--postgres URL]
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
    add_operation,
    bench_connection,
    bench_env,
    each_database,
    link,
    save_results,
    transaction_rows,
)


def measure(rounds: int) -> dict:
    """Runs inside a process whose DATABASE_URL points at an empty database."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    from django.test import Client
    from django.utils import timezone

    from feeds.models import BankTransaction

    bench = bench_connection()
    company, connection, key = bench.company, bench.connection, bench.key
    account = add_account(connection, "bench-chk", "Bench checking")
    today = timezone.localdate()
    link(account)
    path = (
        f"/api/v1/companies/{company.pk}/connections/{connection.pk}/push/bankAccounts/"
        "bench-chk/bankTransactions"
    )
    http = Client()
    headers = {"Authorization": f"Bearer {key}"}

    def body(round_: int) -> bytes:
        items = [
            {
                "id": f"r{round_}-{i:04}",
                "clearedOnDate": today.isoformat(),
                "amount": f"-{1 + i % 500}.{i % 100:02}",
                "description": f"Card purchase #{i} at a coffee roaster, Montréal QC",
                "balance": f"{10000 - i}.00",
            }
            for i in range(1000)
        ]
        return json.dumps({"accountId": "bench-chk", "transactions": items}).encode()

    api_times, bulk_times = [], []
    operation = add_operation(account)
    for round_ in range(rounds + 1):  # the first round warms up and is not counted
        payload = body(round_)
        start = time.perf_counter()
        response = http.post(path, payload, content_type="application/json", headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.content
        assert response.json()["transactionCount"] == 1000, response.json()
        if round_:
            api_times.append(elapsed)

        rows = transaction_rows(
            account,
            operation,
            range(1000),
            prefix=f"bulk{round_}-",
            date=lambda i: today,
            description="Card purchase #{i} at a coffee roaster, Montréal QC",
            balance=True,
        )
        start = time.perf_counter()
        BankTransaction.objects.bulk_create(rows, batch_size=500)
        elapsed = time.perf_counter() - start
        if round_:
            bulk_times.append(elapsed)

    return {
        "api_seconds": api_times,
        "bulk_create_seconds": bulk_times,
        "api_median": statistics.median(api_times),
        "bulk_create_median": statistics.median(bulk_times),
    }


def run_leg(name: str, database_url: str, rounds: int) -> dict:
    env = bench_env(database_url)
    out = subprocess.run(
        [sys.executable, __file__, "--inner", "--rounds", str(rounds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["database"] = name
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.rounds)))
        return

    legs = each_database(
        args.postgres, "linksite_bench", lambda name, url, tmp: run_leg(name, url, args.rounds)
    )

    print(f"1000-transaction write, median of {args.rounds} rounds (in-process, whole stack)")
    print(f"{'database':<12}{'API write':>12}{'bulk_create':>14}{'API/bulk':>10}{'tx/s (API)':>12}")
    for leg in legs:
        ratio = leg["bulk_create_median"] / leg["api_median"]
        leg["ratio_of_bulk_create"] = ratio
        print(
            f"{leg['database']:<12}{leg['api_median'] * 1000:>10.0f}ms"
            f"{leg['bulk_create_median'] * 1000:>12.0f}ms{ratio:>10.0%}"
            f"{1000 / leg['api_median']:>12.0f}"
        )
    save_results("write_1000", legs)


if __name__ == "__main__":
    main()
