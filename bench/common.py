"""What every benchmark script shares: the environment its servers and workers run with, a
gunicorn serving linksite (and the sandbox), and one leg per database (SQLite in a temporary
folder, then PostgreSQL in a database of its own, created and dropped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    """On SQLite the sandbox, standing in for QBO, gets a database file of its own (as `make run`
    gives it): QBO shares no write lock with linksite."""
    if database_url.startswith("sqlite:///"):
        extra.setdefault(
            "QBO_SANDBOX_DATABASE_URL", database_url.replace(".sqlite3", "-qbo.sqlite3")
        )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CONN_MAX_AGE": "60",  # persistent connections, as in production
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        "ORG_SETTINGS_CACHE_SECONDS": "5",  # as deployed (the tests switch it off)
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def start_gunicorn(
    env: dict[str, str],
    port: int,
    workers: int,
    *,
    app: str = "linksite.wsgi:application",
    extra: tuple[str, ...] = (),
) -> subprocess.Popen:
    """linksite (or another WSGI `app`) under gunicorn (the production server the README
    recommends), ready; `extra`: more gunicorn options."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait(lambda: port_open(port), 30, "gunicorn")
    except BaseException:
        stop(server)
        raise
    return server


def postgres_database(url: str, name: str, create: bool) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def each_database(postgres: str, name: str, run: Callable[[str, str, Path], Any]) -> list[Any]:
    """`run(database, DATABASE_URL, scratch folder)` on SQLite, then on PostgreSQL if reachable
    (BENCH_DATABASES=postgresql or sqlite: that leg only, to reproduce one figure)."""
    wanted = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
    legs = []
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in wanted:
            legs.append(run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", Path(tmp)))
        if "postgresql" not in wanted:
            return legs
        try:
            url = postgres_database(postgres, name, create=True)
        except Exception as exc:  # noqa: BLE001 - report and go on with SQLite only
            print(f"PostgreSQL leg skipped: {exc}", file=sys.stderr)
        else:
            try:
                legs.append(run("postgresql", url, Path(tmp)))
            finally:
                postgres_database(postgres, name, create=False)
    return legs


# Data, made inside a process set up (django.setup()) on the bench database -------------------


def bench_connection(**org: Any) -> Any:
    """Migrate; switch the integration on (with `org`'s other settings); an API client with a
    key, a US company and its connection: `.client`, `.key`, `.company`, `.connection`."""
    from types import SimpleNamespace

    from django.conf import settings
    from django.core.management import call_command

    from accounts.models import ApiClient, ApiKey, Company, OrganizationSettings
    from feeds.models import Connection

    call_command("migrate", verbosity=0)
    if "qbo_sandbox" in settings.DATABASES:
        call_command("migrate", database="qbo_sandbox", verbosity=0)
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"integration_enabled": True, **org}
    )
    client = ApiClient.objects.create(name="bench")
    key = ApiKey.issue(client, "bench")[1]
    company = Company.objects.create(client=client, name="Bench Co", country="US")
    connection = Connection.objects.create(company=company)
    return SimpleNamespace(client=client, key=key, company=company, connection=connection)


def add_account(connection: Any, account_id: str, name: str = "", number: str = "000111222333"):
    from feeds.models import SourceAccount

    return SourceAccount.objects.create(
        connection=connection,
        account_id=account_id,
        account_name=name or account_id,
        account_type="checking",
        account_number=number,
        currency="USD",
    )


def link(account: Any, target_id: str = "1", target_name: str = "Checking") -> Any:
    """Link the account as QBO would (a feed starting a week ago), for benchmarks that never
    deliver to the sandbox."""
    import datetime as dt

    from django.utils import timezone

    from accounts.audit import Actor
    from feeds import feed_rules

    return feed_rules.link_feed(
        account,
        target_account_id=target_id,
        target_account_name=target_name,
        target_account_type="Bank",
        feed_start_date=timezone.localdate() - dt.timedelta(days=7),
        actor=Actor.system(),
    )


def link_in_sandbox(account: Any) -> Any:
    """Link the account to a chart account of its own in the sandbox company, and tell the
    sandbox (`LinkedFeed.record`), so that deliveries to the sandbox are taken."""
    from qbo_sandbox.models import ChartAccount, LinkedFeed, SandboxCompany

    target = ChartAccount.objects.create(
        company=SandboxCompany.current(), name=f"Bank {account.account_id}", account_type="Bank"
    )
    feed = link(account, str(target.pk), target.name)
    LinkedFeed.record(
        feed.pk,
        target,
        source_account_id=account.account_id,
        display_name=account.account_name,
        currency=account.currency,
        feed_start_date=feed.feed_start_date,
    )
    return feed


def _varying(
    i: int,
    prefix: str,
    date: Callable[[int], Any],
    description: str = "Card purchase #{i}",
    balance: bool = False,
) -> dict[str, Any]:
    """The values of the i-th benchmark transaction that differ from row to row: its id is
    `prefix` + i, its date `date(i)`, its description `description` with i in it; a balance
    when `balance`."""
    from decimal import Decimal

    return {
        "transaction_id": f"{prefix}{i:06}",
        "cleared_on_date": date(i),
        "amount": Decimal(f"-{1 + i % 500}.{i % 100:02}"),
        "description": description.format(i=i),
        "balance": Decimal(f"{10000 - i % 9000}.00") if balance else None,
    }


def transaction_rows(
    account: Any, operation: Any, numbers: range, *, delivered: Any = None, **shape: Any
) -> list[Any]:
    """Unsaved transactions of the account, the shape the API stores, the i-th for each i in
    `numbers` (`shape`: what `_varying` takes); pending, or delivered at `delivered`."""
    from feeds.models import BankTransaction

    state = {"delivery_state": "delivered", "delivered": delivered} if delivered else {}
    return [
        BankTransaction(
            source_account=account,
            transaction_type="Debit",
            push_operation=operation,
            **_varying(i, **shape),
            **state,
        )
        for i in numbers
    ]


def add_operation(account: Any) -> Any:
    from feeds.models import PushOperation

    return PushOperation.objects.create(
        company_id=account.connection.company_id,
        connection_id=account.connection_id,
        source_account=account,
        account_id=account.account_id,
    )


def add_transactions(account: Any, count: int, *, delivered: Any = None, **shape: Any) -> None:
    """`count` transactions written to the account as one push operation, as
    `transaction_rows` makes them, inserted 10,000 at a time with one `executemany` each (on
    PostgreSQL, one COPY each: half the setup time of the push benchmark went on executemany's
    row-by-row inserts). The benchmarks set up over 400,000 rows a database; the ORM's
    `bulk_create` spent most of that compiling each batch and building model instances. The
    columns and values are the model's own: every field of a first row prepared by the field
    itself, then only the values that vary, prepared by their fields."""
    from django.db import connection, transaction

    from feeds.models import BankTransaction

    operation = add_operation(account)
    first = transaction_rows(account, operation, range(1), **shape, delivered=delivered)[0]
    fields = [f for f in BankTransaction._meta.concrete_fields if not f.primary_key]
    base = [f.get_db_prep_save(getattr(first, f.attname), connection) for f in fields]
    varying = [
        (position, field.attname, field)
        for position, field in enumerate(fields)
        if field.attname in _varying(0, **shape)
    ]
    table = connection.ops.quote_name(BankTransaction._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # The model's names; the values are bound (or streamed, by COPY).
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    copy = f"COPY {table} ({columns}) FROM STDIN"

    def row(i: int) -> list[Any]:
        values, changed = list(base), _varying(i, **shape)
        for position, name, field in varying:
            values[position] = field.get_db_prep_save(changed[name], connection)
        return values

    for start in range(0, count, 10_000):
        rows = (row(i) for i in range(start, min(count, start + 10_000)))
        with transaction.atomic(), connection.cursor() as cursor:  # one commit per 10,000
            if connection.vendor == "postgresql":  # COPY: a tenth of the time of executemany
                with cursor.cursor.copy(copy) as stream:
                    for values in rows:
                        stream.write_row(values)
            else:
                cursor.executemany(sql, list(rows))


def save_results(name: str, legs: list[Any]) -> None:
    """bench/results/<name>.json"""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(legs, indent=2) + "\n")


# The start of a profiling script's inner program (bench/profile_*.py): `timed(owner, name,
# label)` wraps a function so that its calls and time add up under `label`, in `spent` and
# `calls`. Needs `collections` and `time` imported before it.
TIMED = """
spent, calls = collections.Counter(), collections.Counter()

def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started
            calls[label] += 1
    setattr(owner, name, wrapper)
"""
