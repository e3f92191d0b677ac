"""The operator's dashboard against admin's stock home page (issue 19), on SQLite and on
PostgreSQL: 500 companies, each a linked account, and 500,000 transactions (1,000 an account, 9
in 10 delivered; on PostgreSQL, analyzed), the daily figures computed once by the worker's
function; then admin's home
with the dashboard, and the same page as Django's own AdminSite renders it (the same models,
templates and database, no dashboard), each rendered for a signed-in superuser through the
admin views in one process, best of 5 rounds, in turn. Target: the dashboard ≤ 5x the stock
home. Also prints the time the worker's refresh of 30 days took. Writes
bench/results/dashboard.json.

    .venv/bin/python bench/dashboard.py [--companies 500] [--per-account 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
from common import (  # noqa: E402
    add_account,
    add_transactions,
    bench_connection,
    bench_env,
    each_database,
    link,
    save_results,
)

TARGET = 5.0


def measure(companies: int, per_account: int, rounds: int = 5, each: int = 20) -> dict:
    import django

    django.setup()
    import datetime as dt

    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, reset_queries
    from django.test import RequestFactory
    from django.utils import timezone

    from accounts.models import Company
    from feeds import dashboard
    from feeds.models import Connection

    base = bench_connection()
    now = timezone.now()
    started = time.perf_counter()
    for n in range(companies):
        company = Company.objects.create(client=base.client, name=f"Company {n}", country="US")
        account = add_account(Connection.objects.create(company=company), f"acc-{n}")
        link(account)
        delivered = per_account * 9 // 10
        add_transactions(
            account,
            delivered,
            prefix=f"d{n}-",
            date=lambda i: now.date(),
            delivered=now - dt.timedelta(days=n % 30, minutes=n % 60),
        )
        add_transactions(
            account, per_account - delivered, prefix=f"p{n}-", date=lambda i: now.date()
        )
    setup_s = time.perf_counter() - started
    if connection.vendor == "postgresql":
        # A deployment's tables have statistics (autovacuum analyzes after such a load); fresh
        # from COPY they have none, and the planner hashes whole tables for a few rows.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    started = time.perf_counter()
    dashboard.refresh_days()
    refresh_s = time.perf_counter() - started

    user = get_user_model().objects.create_superuser("bench-op", "op@example.com", "x" * 12)
    factory = RequestFactory()
    stock = admin.AdminSite(name="admin")  # Django's own index: the same models, no dashboard
    stock._registry = dict(admin.site._registry)

    def request():
        r = factory.get("/admin/")
        r.user = user
        r.session = SessionStore()
        r._messages = FallbackStorage(r)
        return r

    def home(site):
        response = site.index(request())
        response.render()
        assert response.status_code == 200
        return response

    pages = {"stock": lambda: home(stock), "dashboard": lambda: home(admin.site)}
    queries = {}
    for label, render in pages.items():
        for _ in range(3):
            render()
        connection.force_debug_cursor = True
        reset_queries()
        render()
        queries[label] = len(connection.queries)
        if label == "dashboard":  # the slowest statements, for whoever reads the JSON
            slowest = sorted(connection.queries, key=lambda q: -float(q["time"]))[:5]
        connection.force_debug_cursor = False
    best = {label: float("inf") for label in pages}
    for _ in range(rounds):
        for label, render in pages.items():
            started = time.perf_counter()
            for _ in range(each):
                render()
            best[label] = min(best[label], (time.perf_counter() - started) / each * 1000)
    return {
        "companies": companies,
        "transactions": companies * per_account,
        "setup_s": round(setup_s, 1),
        "refresh_s": round(refresh_s, 2),
        "stock_ms": round(best["stock"], 2),
        "dashboard_ms": round(best["dashboard"], 2),
        "ratio": round(best["dashboard"] / best["stock"], 2),
        "queries": queries,
        "slowest": [{"ms": float(q["time"]) * 1000, "sql": q["sql"][:300]} for q in slowest],
    }


def run_leg(name: str, url: str, args: argparse.Namespace) -> dict:
    print(
        f"[{name}] {args.companies} companies, {args.companies * args.per_account:,} transactions",
        file=sys.stderr,
        flush=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--inner",
            "--companies",
            str(args.companies),
            "--per-account",
            str(args.per_account),
        ],
        env=bench_env(url),
        check=True,
        capture_output=True,
        text=True,
    )
    return {"database": name, **json.loads(out.stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--per-account", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.companies, args.per_account)))
        return
    legs = each_database(
        args.postgres, "linksite_bench_dashboard", lambda name, url, tmp: run_leg(name, url, args)
    )
    print(
        "Operator dashboard vs admin's stock home page (in process, best of 5 rounds of 20; "
        "the same models and database)"
    )
    print(
        f"{'database':<12}{'transactions':>13}{'stock':>10}{'dashboard':>11}{'ratio':>8}"
        f"{'target':>9}{'queries':>10}{'refresh 30 d':>14}"
    )
    for leg in legs:
        met = "met" if leg["ratio"] <= TARGET else "MISSED"
        print(
            f"{leg['database']:<12}{leg['transactions']:>13,}{leg['stock_ms']:>8.2f}ms"
            f"{leg['dashboard_ms']:>9.2f}ms{leg['ratio']:>7.2f}x  ≤{TARGET:.0f}x {met:<6}"
            f"{leg['queries']['stock']:>3} → {leg['queries']['dashboard']:<3}"
            f"{leg['refresh_s']:>10.2f} s"
        )
    save_results("dashboard", legs)


if __name__ == "__main__":
    main()
